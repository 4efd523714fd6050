"""`socius dashboard RUN`: a live page of one league run, served from its run folder.

`dashboard_data` reads what the run wrote (`league.json`, `history.jsonl`, `cluster.json`,
`mirror.json`, `manifest.json`) into one JSON document; the page (`dashboard.html`) draws it
with plain SVG and asks again every few seconds, so a running league updates in place. The
server binds to 127.0.0.1 unless told otherwise: the page shows everything about the run.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from socius.platform.league.ratings import leaderboard
from socius.platform.league.state import LeagueState, saved_state
from socius.platform.runfolder import RunFolder

HEATMAP_MEMBERS = 24  # the strongest members shown in the win-rate heatmap
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def dashboard_data(run_dir: str | Path) -> dict[str, Any]:
    """Everything the page shows, as plain JSON."""
    run = RunFolder(run_dir)
    manifest = run.manifest()
    saved = run.read_optional(RunFolder.STATE)  # none before the first generation ends
    state = saved_state(run, saved) if saved else LeagueState()
    history = run.history()
    rated = dict(leaderboard(state.ratings))
    members = []
    for member_id in [*rated, *(m for m in state.members if m not in rated)]:
        m = state.members.get(member_id)
        rating = rated.get(member_id)
        members.append({
            "id": member_id, "role": m.role.value if m else "scripted",
            "population": m.population if m else "background",
            "trainable": bool(m and m.trainable), "generation": m.generation if m else None,
            "parent": m.parent if m else None, "steps": m.steps if m else None,
            "rating": round(rating.ordinal, 3) if rating else None,
            "mu": round(rating.mu, 3) if rating else None,
            "sigma": round(rating.sigma, 3) if rating else None,
            "cooperation": state.cooperation.get(member_id),
            "care_team": m.care.team if m else None,
            "care_others": m.care.others if m else None})
    top = [m["id"] for m in members if m["rating"] is not None][:HEATMAP_MEMBERS]
    heatmap = [[None if a == b or not state.payoff.games_between(a, b)
                else round(state.payoff.win_rate(a, b, prior_games=0.0), 3) for b in top]
               for a in top]
    lineage = [{"id": m.id, "parent": m.parent, "generation": m.generation,
                "copies": m.lineage} for m in state.members.values()]
    config = manifest.get("config", {})
    families = sum((Counter(h.get("families", {})) for h in history), Counter())
    return {
        "run": {"name": run.name, "league": config.get("name"),
                "generations_planned": config.get("generations"),
                "generations_done": (state.generation + 1) if saved else 0,
                "socius_version": manifest.get("socius_version"),
                "created_unix": manifest.get("created_unix")},
        "members": members, "history": history,
        "heatmap": {"members": top, "win_rate": heatmap},
        "lineage": lineage, "links": _links(run),
        "coverage": {"scenarios_configured": (config.get("scenarios") or {}).get("count"),
                     "families": dict(sorted(families.items())),
                     "scenarios_played": len({s for h in history
                                              for s in h.get("scenarios", {})})},
    }


def _links(run: RunFolder) -> dict[str, Any]:
    links: dict[str, Any] = {"ray_dashboard": None, "mlflow": None, "mlflow_command": None}
    cluster = run.read_optional(RunFolder.CLUSTER)
    if cluster:
        links["ray_dashboard"] = cluster.get("ray_dashboard")
    mirror = run.read_optional(RunFolder.MIRROR)
    if mirror and mirror.get("run_id"):
        uri = mirror.get("tracking_uri") or ""
        if uri.startswith("http"):
            links["mlflow"] = (f"{uri.rstrip('/')}/#/experiments/"
                               f"{mirror.get('experiment_id', '0')}/runs/{mirror['run_id']}")
        else:
            links["mlflow_command"] = f"mlflow ui --backend-store-uri {uri}"
        links["mlflow_run_id"] = mirror["run_id"]
    return links


def page_html(data: dict[str, Any]) -> str:
    """The page with the data in place, so the first paint needs no request."""
    template = resources.files("socius.platform.ops").joinpath("dashboard.html").read_text()
    # every "<" escaped: no name in the data (`</script>`, `<!--`) can end or bend the script
    payload = json.dumps(data).replace("<", "\\u003c")
    return template.replace("/*__DATA__*/null", payload)


def host_allowed(header: str, bound: str, port: int) -> bool:
    """Whether a request's `Host:` header names this server. Bound to loopback, only loopback
    names are answered: a page elsewhere whose own name resolves to 127.0.0.1 (DNS
    rebinding) sends its own name and is refused. Bound elsewhere, the page is exposed
    already (`serve` warns), so any name is answered."""
    if bound not in LOOPBACK:
        return True
    names = {"127.0.0.1", "localhost", "[::1]"}
    return header in names or header in {f"{n}:{port}" for n in names}


def make_server(run_dir: str | Path, host: str = "127.0.0.1",
                port: int = 8600) -> ThreadingHTTPServer:
    run_dir = Path(run_dir)
    dashboard_data(run_dir)  # refuse a folder that is not a run before listening

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if not host_allowed(self.headers.get("Host", ""), host, self.server.server_port):
                self.send_error(421, "unknown Host header")
                return
            path = self.path.split("?")[0]
            if path == "/":
                body, kind = page_html(dashboard_data(run_dir)).encode(), "text/html"
            elif path == "/api/run":
                body, kind = json.dumps(dashboard_data(run_dir)).encode(), "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # quiet: one line per request is noise here
            pass

    return ThreadingHTTPServer((host, port), Handler)


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8600) -> None:
    if host not in LOOPBACK:
        print(f"socius: warning: the dashboard listens on {host}: anyone who can reach this "
              "machine there can read the run (no authentication)", file=sys.stderr)
    server = make_server(run_dir, host, port)
    print(f"dashboard of {run_dir}: http://{host}:{server.server_address[1]}/  (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
