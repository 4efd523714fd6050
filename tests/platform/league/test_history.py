"""history.jsonl: appended per generation; a cut-off last line and replayed generations."""

import json

from socius.platform.league.history import HISTORY_FILE, append_record, read_history


def test_history_keeps_the_last_record_per_generation_and_skips_a_cut_line(tmp_path):
    for generation, value in ((0, 1.0), (1, 2.0), (1, 3.0)):  # generation 1 played again
        append_record(tmp_path, {"generation": generation, "value": value})
    with open(tmp_path / HISTORY_FILE, "a") as f:
        f.write(json.dumps({"generation": 2, "value": 4.0})[:12])  # a crash mid-line
    assert read_history(tmp_path) == [{"generation": 0, "value": 1.0},
                                      {"generation": 1, "value": 3.0}]
    assert read_history(tmp_path / "absent") == []
