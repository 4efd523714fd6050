"""Live league metrics through `ray.util.metrics`: Ray exports them on its metrics port
(Prometheus format, names prefixed `ray_`), next to Ray's own, about 10 s after they change."""

from __future__ import annotations

from ray.util.metrics import Counter, Gauge

from socius.platform.types import GenerationRecord


class LeagueMetrics:
    """Gauges and counters the league driver sets after each generation, tagged with the run."""

    def __init__(self, run: str):
        self.tags = {"run": run}
        self.generation = Gauge("socius_generation", "last finished generation", ("run",))
        self.members = Gauge("socius_members", "league members", ("run",))
        self.rating = Gauge("socius_rating", "openskill ordinal (mu - 3 sigma) per member",
                            ("run", "member"))
        self.cooperation = Gauge("socius_cooperation", "share of cooperative actions per member "
                                 "in the last generation", ("run", "member"))
        self.throughput = Gauge("socius_agent_steps_per_second", "agent-steps per second of "
                                "the last generation", ("run", "kind"))
        self.stage_seconds = Gauge("socius_stage_seconds", "seconds per stage in the last "
                                   "generation", ("run", "stage"))
        self.agent_steps = Counter("socius_agent_steps_trained_total", "agent-steps trained",
                                   ("run",))
        self.episodes = Counter("socius_episodes_total", "finished episodes", ("run",))

    def record(self, generation: GenerationRecord) -> None:
        """One generation's record."""
        tags = self.tags
        self.generation.set(generation.generation, tags)
        self.members.set(generation.members, tags)
        for member, ordinal in generation.ratings.items():
            self.rating.set(ordinal, {**tags, "member": member})
        for member, rate in generation.cooperation.items():
            self.cooperation.set(rate, {**tags, "member": member})
        for kind, value in generation.throughput.items():
            self.throughput.set(value, {**tags, "kind": kind})
        for stage, seconds in generation.stage_seconds.items():
            self.stage_seconds.set(seconds, {**tags, "stage": stage})
        if generation.agent_steps_trained:
            self.agent_steps.inc(generation.agent_steps_trained, tags)
        if generation.episodes:
            self.episodes.inc(generation.episodes, tags)
