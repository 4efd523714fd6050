"""The dashboard of a finished smoke league, opened in headless Chromium (Debian's `chromium`)."""

import json
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from decimal import ROUND_HALF_UP, Decimal

import pytest

from socius.platform.config import load_config
from socius.platform.ops.dashboard import dashboard_data, make_server
from socius.platform.runfolder import RunFolderError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--window-size=1400,2200",
                           "--virtual-time-budget=3000", *args, url],
                          capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_dashboard_shows_members_ratings_and_heatmap_in_chromium(ray_session, tmp_path):
    from PIL import Image

    from socius.platform.run.league import run_league

    run_dir = tmp_path / "run"
    # evaluated every 2 generations (and at the last) on the dilemmas suite (up to 4 players,
    # so the networks get 4 seats; on the zero-sum suite only random references are defined
    # and they tie: no normalised score); the champion chosen by that score
    run_league(load_config(profile="smoke", overrides=[
        "generations=3", "scenarios.max_players=4", "eval.every_generations=2",
        "eval.suite=dilemmas", "eval.episodes=4", "tracking.champion_by=eval"]), run_dir,
        log=lambda line: None)
    data = dashboard_data(run_dir)
    evals = [h for h in data["history"] if h.get("eval")]
    assert [h["generation"] for h in evals] == [1, 2]
    scored = {m for h in evals for m in h["eval"]["members"]}
    assert {"main_0", "main_1"} <= scored and any("@" in m for m in scored)  # snapshots too
    from socius.platform.data.lake import Lake

    rows = Lake(run_dir / "lake", create=False).read("evals").to_pylist()
    assert {r["agent"] for r in rows} == scored and {r["generation"] for r in rows} == {1, 2}
    assert all(r["suite"] == "dilemmas" and r["suite_hash"] == evals[0]["eval"]["suite_hash"]
               for r in rows)
    from socius.platform.registry import eval_scores, mlflow_client

    mirror = json.loads((run_dir / "mirror.json").read_text())
    client = mlflow_client(mirror["tracking_uri"])
    history = client.get_metric_history(mirror["run_id"], "eval/normalised_zoo/main_0")
    assert [m.step for m in history] == [1, 2]
    scores = eval_scores(data["history"])
    champion = client.get_model_version_by_alias("socius.league.main_0", "champion")
    best = max((v for v in scores if v.startswith("main_0@")), key=scores.get)
    assert champion.tags["member"] == best
    assert float(champion.tags["eval_normalised_zoo"]) == pytest.approx(scores[best], abs=1e-4)
    # `socius eval` of the registered champion: rows into the run's lake, scores into MLflow
    from socius.platform.cli import main

    assert main(["eval", "socius.league.main_0@champion", "--run", str(run_dir), "--suite",
                 "dilemmas", "--episodes", "2"]) == 0
    cli_rows = [r for r in Lake(run_dir / "lake", create=False).read("evals").to_pylist()
                if r["agent"] == "socius.league.main_0@champion"]
    assert cli_rows and {r["generation"] for r in cli_rows} == {2}
    version = client.get_model_version("socius.league.main_0", champion.version)
    assert "eval.dilemmas.normalised_zoo" in version.tags
    assert version.tags["eval.dilemmas.suite_hash"] == evals[0]["eval"]["suite_hash"]
    assert client.get_metric_history(version.run_id, "eval/dilemmas/normalised_zoo")
    server = make_server(run_dir, port=0)
    assert server.server_address[0] == "127.0.0.1"  # loopback unless told otherwise
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        api = json.loads(urllib.request.urlopen(url + "api/run", timeout=10).read())
        assert api["run"]["generations_done"] == 3 and len(api["history"]) == 3
        rebound = urllib.request.Request(url + "api/run", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError, match="421"):  # DNS rebinding refused
            urllib.request.urlopen(rebound, timeout=10)
        dom = _chromium(url, "--dump-dom").stdout
        shot = tmp_path / "dashboard.png"
        _chromium(url, f"--screenshot={shot}")
    finally:
        server.shutdown()
        server.server_close()
    # every member with its rating, as the page formats them
    assert len(data["members"]) >= 6
    for member in data["members"]:
        assert member["id"] in dom
        if member["rating"] is not None:
            assert f"{member['rating']:.2f}" in dom
    # every heatmap value the run has, in the heatmap's cells
    heat = dom[dom.index("class=\"heat\""):]
    values = [v for row in data["heatmap"]["win_rate"] for v in row if v is not None]
    assert values and all(f">{v:.2f}<" in heat for v in values)
    assert "Population lineage" in dom and "main_0@" in dom
    assert "<svg" in dom and "polyline" in dom  # the ratings and throughput charts drew
    assert "Matches and faults" in dom and "balanced" in dom  # the ticket books per generation
    evaluation = dom[dom.index("<h2>Evaluation</h2>"):]
    assert "suite dilemmas" in evaluation
    for member, summary in evals[-1]["eval"]["members"].items():
        assert f">{member}<" in evaluation
        if summary["normalised_zoo"] is not None:
            shown = Decimal(summary["normalised_zoo"]).quantize(Decimal("0.01"), ROUND_HALF_UP)
            assert f">{shown}<" in evaluation
    # every stage's seconds of the last generation, and its share of the generation's time
    time_section = dom[dom.index("Time per stage"):]
    stages = data["history"][-1]["stage_seconds"]
    for stage in ("league/plan", "env/", "learner/", "store/", "league/rate", "league/evolve",
                  "checkpoint/", "eval/", "registry/"):
        # as JavaScript's toFixed(2) rounds: half up, on the float's exact value
        shown = Decimal(stages[stage]).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert f">{stage}<" in time_section and f">{shown}<" in time_section
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 2200)
    assert len(set(image.resize((140, 220)).getdata())) > 50  # a drawn page, not a blank one


def test_dashboard_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunFolderError, match="manifest.json"):
        make_server(tmp_path, port=0)


def test_page_data_cannot_end_the_script_and_only_loopback_names_are_answered():
    from socius.platform.ops.dashboard import host_allowed, page_html

    html = page_html({"run": {"name": "x</script><!--<script>alert(1)</script>"}})
    script = html[html.index("x\\u003c/script>"):]
    assert "<!--" not in script.split("</script>")[0] and "alert(1)" in html
    assert html.count("</script>") == page_html({}).count("</script>")
    assert host_allowed("127.0.0.1:8600", "127.0.0.1", 8600)
    assert host_allowed("localhost:8600", "127.0.0.1", 8600) and host_allowed("[::1]:8600",
                                                                              "::1", 8600)
    # DNS rebinding: another site's name resolving to 127.0.0.1 is refused
    assert not host_allowed("evil.example:8600", "127.0.0.1", 8600)
    assert not host_allowed("", "127.0.0.1", 8600)
    assert not host_allowed("127.0.0.1:9999", "127.0.0.1", 8600)
    assert host_allowed("dash.internal:8600", "0.0.0.0", 8600)  # exposed on purpose
