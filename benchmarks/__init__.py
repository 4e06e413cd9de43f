"""Benchmarks of Parrot: the `parrot bench` suite (`benchmarks.suite`) and single-purpose scripts."""
