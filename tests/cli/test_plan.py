"""The planner CLI contract, run as a subprocess the way other tools call it."""
import json


def test_optimal_json_contract(run_cli):
    out = run_cli("optimal", "--flops", "5.88e23", "--law", "besiroglu2024", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"params", "tokens", "loss", "law"} <= set(data)
    assert data["law"] == "besiroglu2024"
    assert 60e9 < data["params"] < 85e9


def test_laws_json_lists_every_preset(run_cli):
    out = run_cli("laws", "--json")
    names = {law["name"] for law in json.loads(out.stdout)}
    assert {"hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024", "hoffmann2022-approach1",
            "hoffmann2022-approach2", "kaplan2020"} <= names


def test_json_flag_may_come_before_the_subcommand(run_cli):
    out = run_cli("--json", "optimal", "--flops", "1e21")
    assert json.loads(out.stdout)["law"] == "besiroglu2024"  # the default reproduces Hoffmann's Table 3


def test_human_output_without_json(run_cli):
    out = run_cli("optimal", "--flops", "1e21")
    assert out.returncode == 0 and "params:" in out.stdout


def test_errors_are_one_line_on_stderr_with_exit_2(run_cli):
    for args in (["optimal", "--flops", "-5"], ["optimal", "--flops", "1e22", "--law", "nope"],
                 ["optimal", "--flops", "lots"], ["optimal"]):
        out = run_cli(*args)
        assert out.returncode == 2, args
        assert out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr


def test_fixed_size_and_fixed_tokens(run_cli):
    """Hoffmann Table 3 (Approach 1): a 10B model is compute-optimal at about 205B tokens."""
    out = run_cli("optimal", "--params", "10e9", "--law", "hoffmann2022-approach1", "--json")
    data = json.loads(out.stdout)
    assert abs(data["tokens"] / 205.1e9 - 1) < 0.02
    back = json.loads(run_cli("optimal", "--tokens", data["tokens"], "--law", "hoffmann2022-approach1",
                              "--json").stdout)
    assert abs(back["params"] / 10e9 - 1) < 1e-6
