"""Security (issue 8): loopback by default, no code from user files, uploads as text only, file names not paths.

Each test states the attack or leak it closes, so that a change that reopens it fails here."""
import ast
import errno
import os
import pickle
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import psutil
import pytest
from streamlit.testing.v1 import AppTest

from planner.errors import PlannerError
from planner.jobs import runners
from planner.jobs.store import JobStore
from planner.train import corpus
from planner.train.corpus import CorpusSpec, check_upload, load_corpus, save_upload, upload_folder
from planner.views.paths import file_names_only
from tests.conftest import REPO

CODE_DIRS = [REPO / "planner", REPO / "pages"]


# ------------------------------------------------------------------------------------------ listening address
def test_config_pins_the_loopback_address():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _non_loopback_address() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return None


def _listening(pid: int, port: int) -> list[str]:
    """Addresses that `pid` (or its children) listen on at `port`."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return [c.laddr.ip for p in procs for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port]


def test_a_plain_streamlit_run_listens_on_loopback_only(tmp_path):
    """`streamlit run app.py` without --server.address used to listen on every interface, unauthenticated."""
    port = _free_port()
    env = {**os.environ, "SCALEPLAN_HOME": str(tmp_path / "home")}
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.fileWatcherType", "none"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, bound = time.time() + 60, []
        while not bound and time.time() < deadline and proc.poll() is None:
            time.sleep(0.3)
            bound = _listening(proc.pid, port)
        assert bound, (tmp_path / "streamlit.log").read_text()
        assert set(bound) == {"127.0.0.1"}  # not 0.0.0.0 / :: (every interface)
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        outside = _non_loopback_address()
        if outside:  # this machine's own network address is refused: nothing listens there
            with pytest.raises(OSError):
                socket.create_connection((outside, port), timeout=5).close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


# ------------------------------------------------------------------------------ no unsafe deserialisation
UNSAFE_CALLS = {"pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads",
                "dill.load", "dill.loads", "cloudpickle.load", "cloudpickle.loads", "joblib.load",
                "marshal.load", "marshal.loads", "shelve.open", "pd.read_pickle", "pandas.read_pickle",
                "yaml.unsafe_load", "yaml.full_load", "jsonpickle.decode"}
UNSAFE_IMPORTS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("joblib", "load"),
                  ("marshal", "loads"), ("torch", "load"), ("pandas", "read_pickle"), ("dill", "load")}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _keyword_is_true(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def _unsafe_calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any((node.module, a.name) in UNSAFE_IMPORTS for a in node.names):
            found.append((node.lineno, f"from {node.module} import {', '.join(a.name for a in node.names)}"))
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        short = ".".join(name.split(".")[-2:])  # self.torch.load -> torch.load
        if short == "torch.load" and not _keyword_is_true(node, "weights_only"):
            found.append((node.lineno, f"{name}(...) without weights_only=True"))
        elif short in UNSAFE_CALLS or name in ("eval", "exec"):
            found.append((node.lineno, f"{name}(...)"))
        elif short in ("np.load", "numpy.load") and _keyword_is_true(node, "allow_pickle"):
            found.append((node.lineno, f"{name}(..., allow_pickle=True)"))
        elif short == "yaml.load" and "SafeLoader" not in ast.unparse(node):
            found.append((node.lineno, f"{name}(...) without SafeLoader"))
    return found


def test_the_guard_catches_each_unsafe_form():
    """The project-wide scan below is only worth something if it sees these."""
    code = ("import torch, pickle, numpy as np\nfrom joblib import load\n"
            "torch.load(p)\nself.torch.load(p, weights_only=False)\ntorch.load(p, weights_only=True)\n"
            "pickle.loads(b)\nnp.load(p, allow_pickle=True)\nnp.load(p)\neval(s)\nexec(s)\n")
    lines = sorted(line for line, _ in _unsafe_calls(ast.parse(code)))
    assert lines == [2, 3, 4, 6, 7, 9, 10]


def test_no_code_path_unpickles_or_evaluates_data():
    """Issue 8: every torch.load passes weights_only=True; nothing unpickles, evals or execs data."""
    files = [REPO / "app.py", *(p for d in CODE_DIRS for p in sorted(d.rglob("*.py")))]
    assert len(files) > 30  # the scan really reads the project
    problems = [f"{path.relative_to(REPO)}:{line}: {what}"
                for path in files for line, what in _unsafe_calls(ast.parse(path.read_text(), str(path)))]
    assert problems == [], "unsafe loading:\n" + "\n".join(problems)


# ------------------------------------------------------------------------------------ a planted pickle
class Planted:
    """What an attacker uploads: unpickling it calls open(marker, "w"), i.e. runs code of their choice."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_the_planted_pickle_is_live(tmp_path):
    """Control: a plain pickle.loads of the payload does run it (so 'marker absent' below means something)."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(Planted(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_binary_pickle_uploaded_as_a_corpus_is_refused_and_never_kept(tmp_path, protocol):
    marker = tmp_path / "pwned"
    for name in ("corpus.txt", "corpus.jsonl"):
        with pytest.raises(PlannerError, match="looks like a pickle, not text"):
            save_upload(name, pickle.dumps(Planted(marker), protocol=protocol))
    assert not upload_folder().exists() and not marker.exists()


def test_a_text_pickle_is_kept_only_as_text_and_read_only_as_text(tmp_path):
    """Protocol 0 pickles are ASCII: kept as a .txt corpus, they are read as text, never unpickled."""
    marker = tmp_path / "pwned"
    path = save_upload("checkpoint.txt", pickle.dumps(Planted(marker), protocol=0))
    assert path.parent == upload_folder() and path.suffix == ".txt" and path.name != "checkpoint.pt"
    loaded = load_corpus(CorpusSpec(source=str(path)))
    assert "open" in loaded.texts[0] and str(marker) in loaded.texts[0] and not marker.exists()


def test_a_torch_checkpoint_or_pt_name_is_not_an_upload(tmp_path):
    import torch  # heavy: only the tests that save checkpoints pay for it
    marker = tmp_path / "pwned"
    torch.save({"model": Planted(marker)}, tmp_path / "evil.pt")
    with pytest.raises(PlannerError, match="zip archive"):
        save_upload("corpus.txt", (tmp_path / "evil.pt").read_bytes())
    with pytest.raises(PlannerError, match=r"\.txt or \.jsonl"):
        save_upload("checkpoint.pt", b"plain text")
    assert not upload_folder().exists() and not marker.exists()


def _trainer_resuming_from(checkpoint_dir: Path):
    import torch  # heavy: only the tests that save checkpoints pay for it
    from planner.train.loop import TrainConfig, Trainer

    cfg = TrainConfig(tokens=4 * 8 * 4, batch_size=4, seq_len=8, evals=1, eval_tokens=64, compile="off")
    tokens = np.arange(400) % 16
    return Trainer(torch.nn.Embedding(16, 16), tokens, tokens, cfg, flops_per_token=1.0,
                   checkpoint_dir=checkpoint_dir)


@pytest.mark.parametrize("form", ["torch.save", "raw pickle"])
def test_a_planted_checkpoint_is_refused_by_the_trainer_and_never_run(tmp_path, form):
    """A job's checkpoint.pt replaced by an attacker: Trainer resume loads weights only and refuses it."""
    import torch

    from planner.train.loop import CHECKPOINT

    marker, folder = tmp_path / "pwned", tmp_path / "job-1"
    folder.mkdir()
    payload = {"model": Planted(marker), "optimizer": {}, "step": 0, "seconds": 0.0}
    if form == "torch.save":
        torch.save(payload, folder / CHECKPOINT)
    else:
        (folder / CHECKPOINT).write_bytes(pickle.dumps(payload, protocol=2))
    trainer = _trainer_resuming_from(folder)
    with pytest.raises(PlannerError, match=CHECKPOINT):
        trainer.run()
    assert not marker.exists()


# ------------------------------------------------------------------------------------------- uploads
def test_an_upload_is_content_addressed_and_kept_once():
    first = save_upload("../../etc/notes.txt", b"some text\n")
    again = save_upload("other-name.txt", b"some text\n")
    assert first == again and first.parent == upload_folder() and len(first.stem) == 64
    assert first.read_bytes() == b"some text\n" and [p.name for p in upload_folder().iterdir()] == [first.name]


def test_checking_an_upload_writes_nothing_so_a_refused_launch_leaves_no_file():
    upload = check_upload("notes.jsonl", b'{"text": "hello"}\n')
    assert not upload.path.exists() and not upload_folder().exists()
    assert corpus.estimated_bytes(CorpusSpec(source=str(upload.path))) == upload.bytes  # the design still sizes it


@pytest.mark.parametrize("name, data, message", [
    ("a.txt", b"", "holds no text"),
    ("a.txt", b"\x00\x01\x02text", "NUL bytes"),
    ("a.txt", b"caf\xe9", "not UTF-8"),
    ("a.txt", b"\x1f\x8b\x08\x00", "gzip"),
    ("a.txt", b"\x7fELF\x02\x01", "a program"),
    ("a.jsonl", b'{"text": "ok"}\n[1, 2]\n', "line 2"),
    ("a.jsonl", b'{"body": "no text field"}\n', "line 1"),
    ("a.csv", b"x,y\n", r"\.txt or \.jsonl"),
])
def test_uploads_that_are_not_text_corpora_get_one_clear_message(name, data, message):
    with pytest.raises(PlannerError, match=message):
        save_upload(name, data)
    assert not upload_folder().exists()


def test_utf16_with_a_byte_order_mark_is_kept_as_utf8():
    path = save_upload("notes.txt", "naïve text\n".encode("utf-16"))
    assert path.read_text(encoding="utf-8") == "naïve text\n"


def test_one_upload_limit_for_corpora_run_files_and_streamlit():
    from planner.fitting.files import MAX_FILE_BYTES

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert corpus.MAX_UPLOAD_BYTES == MAX_FILE_BYTES == config["server"]["maxUploadSize"] * 1024 * 1024


def test_the_size_limit_is_checked_before_anything_else(monkeypatch):
    monkeypatch.setattr(corpus, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(PlannerError, match="over the .* upload limit"):
        save_upload("big.txt", b"x" * 11)


def test_a_state_directory_that_cannot_be_written_is_a_clear_error(tmp_path, monkeypatch):
    """Not a directory (as a read-only mount behaves for root too), and a full disk (ENOSPC, simulated)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SCALEPLAN_HOME", str(blocker))
    with pytest.raises(PlannerError, match="cannot keep the uploaded corpus"):
        save_upload("notes.txt", b"text")
    monkeypatch.setenv("SCALEPLAN_HOME", str(tmp_path / "home"))

    def full_disk(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(PlannerError, match="No space left on device; free space"):
        save_upload("notes.txt", b"text")
    assert list(upload_folder().iterdir()) == []  # no half-written file stays


# ------------------------------------------------------------------------------------------- device check
def test_one_device_check_for_every_launch(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    runners.check_device("cpu")
    with pytest.raises(PlannerError, match="no CUDA GPU found on this machine"):
        runners.check_device("cuda")
    with pytest.raises(PlannerError, match="device must be 'cpu' or 'cuda'"):
        runners.check_device("tpu")
    with pytest.raises(PlannerError, match="device must be 'cpu' or 'cuda'"):
        runners.get_runner("ray").check_device("tpu")  # the name is checked before Ray is started
    with pytest.raises(PlannerError, match="no CUDA GPU found"):
        runners.get_runner("local").check_device("cuda")
    runners.check_device("cuda", gpus=1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert runners.slots_for("cuda") == ["cuda:0", "cuda:1"]


# ------------------------------------------------------------------------------------------- file names
def test_file_names_only_keeps_names_and_cuts_server_paths():
    assert file_names_only("corpus file /srv/me/.scaleplan/uploads/ab12.txt not found") == \
        "corpus file ab12.txt not found"
    assert file_names_only({"corpus": {"source": "/home/me/c.jsonl"}, "runs": ["~/x/y.log", 3]}) == \
        {"corpus": {"source": "c.jsonl"}, "runs": ["y.log", 3]}
    assert file_names_only("1e21 FLOPs, 3/4 done, 1.2 tokens/s, https://arxiv.org/abs/2203.15556") == \
        "1e21 FLOPs, 3/4 done, 1.2 tokens/s, https://arxiv.org/abs/2203.15556"


def test_the_runs_page_shows_file_names_not_server_paths(scaleplan_home):
    secret = str(scaleplan_home / "uploads" / "0123abcd.txt")
    store = JobStore()
    job = store.submit("train", {"meta": {"run": "C1e15-a"}, "corpus": {"source": secret}}, group="ladder-x")
    store.finish(job, "failed", error=f"corpus file {secret} not found; give a .txt or .jsonl file")
    at = AppTest.from_file(str(REPO / "pages" / "runs.py"), default_timeout=60).run()
    assert not at.exception
    shown = [str(e.value) for kind in ("error", "json", "caption", "markdown") for e in at.get(kind)]
    shown += [at.dataframe[0].value.to_csv()]
    assert any("0123abcd.txt" in s for s in shown)  # the name is there...
    assert not any(str(scaleplan_home) in s or "/uploads/" in s for s in shown)  # ...the server's path is not


# ------------------------------------------------------------------------------------------- pages
def _verify_page() -> AppTest:
    return AppTest.from_file(str(REPO / "pages" / "verify.py"), default_timeout=60)


def test_a_refused_launch_on_the_verify_page_keeps_no_upload(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU: a cuda launch is refused
    at = _verify_page().run()
    at.file_uploader[0].upload("notes.txt", b"def f(x):\n    return x\n" * 2000, "text/plain").run()
    assert not at.error and "notes.txt" in str(at.file_uploader[0].value)  # the page holds the upload
    at.radio[0].set_value("cuda").run()
    at.button[0].click().run()
    assert not at.exception and at.error[0].value.startswith("Not launched: no CUDA GPU")
    assert not upload_folder().exists()


def test_a_pickle_uploaded_on_the_verify_page_is_a_clear_error(tmp_path):
    marker = tmp_path / "pwned"
    at = _verify_page().run()
    at.file_uploader[0].upload("corpus.txt", pickle.dumps(Planted(marker)), "text/plain").run()
    assert not at.exception and "looks like a pickle" in at.error[0].value
    assert not upload_folder().exists() and not marker.exists()
