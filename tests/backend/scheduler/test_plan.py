"""The scheduler's policies on hand-built states: each decision checked, each switch flipped."""

import pytest

from parrot_backend.analysis.prefixes import PrefixTree, rendered_key
from parrot_backend.errors import ConfigError
from parrot_backend.scheduler.plan import EngineState, Plan, QueuedCall, SchedulerState, plan
from parrot_backend.scheduler.policies import POLICIES, SchedulerConfig

DOC = "The shared document. " * 40  # 840 characters, past min_prefix_chars
CONFIG = SchedulerConfig()


def key(text: str, tenant: str = "t") -> str:
    return rendered_key(tenant, text)


def queued(ticket: str, text: str, seq: int = 0, **kw) -> QueuedCall:
    return QueuedCall(ticket, key(text, kw.pop("tenant", "t")), seq=seq, **kw)


def engine(engine_id: str, running: int = 0, holds: tuple[str, ...] = (), **kw) -> EngineState:
    tree = PrefixTree()
    for text in holds:
        tree.insert(key(text, kw.pop("tenant", "t")), "earlier")
    return EngineState(engine_id, running, kw.pop("running_throughput", 0), tree, **kw)


def where(decided: Plan) -> dict[str, str]:
    return {d.ticket: d.engine for d in decided.dispatches}


def test_affinity_follows_the_cached_prefix_until_the_engine_is_too_busy() -> None:
    call = queued("q", DOC + "question 1")
    held = SchedulerState([engine("a"), engine("b", running=1, holds=(DOC + "question 0",))], [call])
    decided = plan(held, CONFIG)
    assert where(decided) == {"q": "b"}
    assert decided.dispatches[0].policy == "affinity" and decided.dispatches[0].matched_chars == len(DOC) + 9
    busy = SchedulerState([engine("a"), engine("b", running=2, holds=(DOC,))], [call])
    assert plan(busy, CONFIG).dispatches[0].policy == "replicate"
    assert where(plan(busy, CONFIG)) == {"q": "a"}
    assert where(plan(busy, SchedulerConfig(slack=2))) == {"q": "b"}
    off = plan(held, CONFIG.without(["affinity"]))
    assert where(off) == {"q": "a"} and off.dispatches[0].policy == "least-loaded"


def test_engines_holding_the_same_prefix_are_equals_and_load_decides() -> None:
    both = (DOC + "question 0",)
    call = queued("q", DOC + "question 1")
    state = SchedulerState([engine("a", running=1, holds=both), engine("b", holds=(DOC + "quest",))], [call])
    decided = plan(state, CONFIG)
    assert where(decided) == {"q": "b"} and decided.dispatches[0].policy == "least-loaded"
    assert decided.dispatches[0].matched_chars == len(DOC) + 5


def test_prefixes_are_never_shared_across_tenants() -> None:
    state = SchedulerState([engine("a"), engine("b", running=1, holds=(DOC,), tenant="other")], [queued("q", DOC)])
    decided = plan(state, CONFIG)
    assert where(decided) == {"q": "a"} and decided.dispatches[0].matched_chars == 0


def test_calls_planned_together_follow_each_other_then_replicate() -> None:
    calls = [queued(f"q{i}", DOC + f"question {i}", seq=i) for i in range(4)]
    decided = plan(SchedulerState([engine("a"), engine("b")], calls), CONFIG.without(["warmup"]))
    # q0 lands on a; q1 follows it (1 <= 0 + slack); q2 would make a 2 ahead, so it replicates on
    # b; then both hold the prefix and load decides.
    assert where(decided) == {"q0": "a", "q1": "a", "q2": "b", "q3": "b"}
    assert [d.policy for d in decided.dispatches] == ["least-loaded", "affinity", "replicate", "least-loaded"]


def test_warm_up_prefills_a_shared_prefix_once_per_engine_then_releases_in_trie_order() -> None:
    calls = [queued(f"q{i}", DOC + f"question {i}", seq=3 - i) for i in range(3)]  # arrive in reverse
    decided = plan(SchedulerState([engine("a")], calls), CONFIG)
    assert len(decided.warms) == 1
    warm = decided.warms[0]
    assert warm.engine == "a" and warm.chars == len(DOC + "question ")
    assert warm.calls == ("q0", "q1", "q2")  # depth-first (sorted) order, not arrival order
    assert all(d.warm == 0 for d in decided.dispatches)
    # Nothing to warm: the engine holds the prefix already, or warm-up is off, or the engine cannot.
    assert plan(SchedulerState([engine("a", holds=(DOC,))], calls), CONFIG).warms == ()
    assert plan(SchedulerState([engine("a")], calls), CONFIG.without(["warmup"])).warms == ()
    assert plan(SchedulerState([engine("a", can_warm=False)], calls), CONFIG).warms == ()
    # A lone call needs no warm-up, and short shared prefixes are not worth one.
    assert plan(SchedulerState([engine("a")], calls[:1]), CONFIG).warms == ()
    short = [queued(f"s{i}", f"Summarize part {i}: " + "x" * i, seq=i) for i in range(3)]
    assert plan(SchedulerState([engine("a")], short), CONFIG).warms == ()


def test_warm_up_picks_the_prefix_that_saves_most() -> None:
    other = "Another long context. " * 30
    calls = [queued(f"d{i}", DOC + f"question {i}", seq=i) for i in range(3)]
    calls += [queued(f"o{i}", other + f"question {i}", seq=3 + i) for i in range(2)]
    decided = plan(SchedulerState([engine("a", running=0)], calls), SchedulerConfig(slack=10))
    assert sorted(w.calls for w in decided.warms) == [("d0", "d1", "d2"), ("o0", "o1")]


def test_latency_calls_go_first_and_throughput_is_capped_while_they_wait() -> None:
    jobs = [queued(f"j{i}", f"job {i}", seq=i, objective="throughput") for i in range(6)]
    chat = queued("chat", "hello", seq=9, objective="latency")
    state = SchedulerState([engine("a", running=2, running_throughput=2), engine("b")], [*jobs, chat])
    decided = plan(state, SchedulerConfig(throughput_cap=2))
    assert decided.dispatches[0].ticket == "chat" and decided.dispatches[0].engine == "b"
    assert sorted(where(decided)) == ["chat", "j0", "j1"]  # b takes 2 jobs; a is at its cap
    # Without latency work, no cap: every job goes.
    assert len(plan(SchedulerState(state.engines, jobs), SchedulerConfig(throughput_cap=2)).dispatches) == 6
    # Objectives off: arrival order and no cap.
    off = plan(state, SchedulerConfig(throughput_cap=2).without(["objectives"]))
    assert len(off.dispatches) == 7 and off.dispatches[-1].ticket == "chat"
    # A latency call running elsewhere also caps throughput work.
    running = SchedulerState([engine("a", running_throughput=2, running=3)], jobs, latency_running=1)
    assert plan(running, SchedulerConfig(throughput_cap=2)).dispatches == ()


def test_plans_are_data_replayable_and_empty_when_nothing_waits() -> None:
    calls = [queued(f"q{i}", DOC + f"q{i}", seq=i) for i in range(5)]
    state = SchedulerState([engine("a"), engine("b", running=1)], calls)
    assert plan(state, CONFIG) == plan(state, CONFIG)
    assert plan(SchedulerState([engine("a")], []), CONFIG) == Plan()


def test_config_switches_are_validated() -> None:
    assert CONFIG.enabled() == list(POLICIES)
    assert CONFIG.without(["warmup", "objectives"]).enabled() == ["affinity"]
    with pytest.raises(ConfigError, match="unknown scheduler policy prefetch"):
        CONFIG.without(["prefetch"])
    with pytest.raises(ConfigError, match="throughput_cap"):
        SchedulerConfig(throughput_cap=0)
