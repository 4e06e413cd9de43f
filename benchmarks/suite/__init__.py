"""The benchmark suite behind `parrot bench`: workloads, modes, the run, its analysis and report."""
