"""The benchmark's report: every target it can miss says why, so a run that misses one still writes BENCHMARKS.md
(a target without a reason once ended a half-hour run with a KeyError and no report)."""

from __future__ import annotations

from bench import report


def test_every_target_that_is_no_cost_figure_has_a_written_reason_for_a_miss():
    metrics = {metric for metric, *_ in report.TARGETS if not metric.startswith("cost.")}

    assert sorted(metrics - set(report.WHY_NOT_MET)) == []


def test_a_miss_without_a_written_reason_is_still_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "TARGETS", (("fuzz.server_errors", "==", 0, "no server error in the fuzz run"),))
    monkeypatch.setattr(report, "WHY_NOT_MET", {})
    monkeypatch.setattr(report, "BENCHMARKS_MD", tmp_path / "BENCHMARKS.md")
    summary = {"fuzz": {"server_errors": 3}, "machine": {}, "method": [], "finished_at": "now", "seconds": 1.0}
    summary["targets"] = report.target_results(summary)

    report.write_markdown(summary)

    assert f"`fuzz.server_errors` == 0 not met: {report.UNEXPLAINED}" in (tmp_path / "BENCHMARKS.md").read_text()
