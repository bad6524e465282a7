"""The fixtures themselves: a server starts, answers, adds tokens, restarts."""

import json
import urllib.request


def get(url: str, token: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def test_server_answers_and_keeps_data_across_restart(modelreg_server):
    s = modelreg_server
    s.cli("models", "create", "fixture_model", "--description", "from pytest")
    reader = s.token("pytest-reader", "reader")
    assert get(s.url + "/v1/models/fixture_model", reader)["name"] == "fixture_model"
    s.restart()
    assert get(s.url + "/v1/models/fixture_model", reader)["description"] == "from pytest"
