"""The `ide3d` command refuses bad arguments in one line with exit 1, before any work:
an absent CUDA device, non-finite or out-of-range angles, smoothing and sizes outside
the service's limits, an --out folder that does not exist (issue 17, items 12-14)."""
import numpy as np
import pytest
import torch

from ide3d_backend import cli, editing as E, session as S
from ide3d_backend.api import build_generator

BUILT = {"built": {"preset": "tiny", "seed": 0}}


@pytest.fixture(scope="module")
def sess(torch_threads, tmp_path_factory):
    G = build_generator("tiny", seed=0, device="cpu").eval()
    mask = np.zeros((128, 128), np.uint8)
    mask[30:100, 30:100] = 1
    photo = np.zeros((128, 128, 3), np.uint8)
    path = tmp_path_factory.mktemp("cli") / "sess"
    S.Session.create(path, G, E.latents_from_seed(G, 7), 0.0, 0.0, {}, photo, mask, "user", base_source=BUILT)
    return path


def _one_line_error(capsys, argv, *words):
    assert cli.main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.mark.parametrize("argv", [
    ["render", "SESS", "--out", "OUT/x.png"], ["mesh", "SESS", "--out", "OUT/x.glb"],
    ["edit", "SESS", "--undo"], ["sample", "--seed", "1", "--out", "OUT/s"],
    ["draw", "MASK", "--out", "OUT/d"], ["invert", "PHOTO", "--out", "OUT/i"],
    ["serve", "--port", "0"]])
def test_cuda_without_cuda_is_one_line_and_exit_1(capsys, sess, tmp_path, argv, monkeypatch):
    # a machine without CUDA, on any machine (a CUDA one included)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    argv = [str(sess) if a == "SESS" else a.replace("OUT", str(tmp_path)) for a in argv]
    _one_line_error(capsys, argv + ["--device", "cuda"], "CUDA", "--device cpu")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag,value", [("--yaw", "nan"), ("--yaw", "inf"), ("--yaw", "-inf"),
                                        ("--yaw", "7"), ("--pitch", "100"), ("--pitch", "nan"),
                                        ("--pitch", "-1.6"), ("--size", "0"), ("--size", "100000")])
def test_render_refuses_bad_view(capsys, sess, tmp_path, flag, value):
    out = tmp_path / "x.png"
    _one_line_error(capsys, ["render", sess, f"{flag}={value}", "--out", out], flag, "out of range")
    assert not out.exists()


@pytest.mark.parametrize("flag,value", [("--smooth", "-3"), ("--smooth", "101"), ("--resolution", "8"),
                                        ("--resolution", "4096"), ("--faces", "0")])
def test_mesh_refuses_bad_sizes(capsys, sess, tmp_path, flag, value):
    out = tmp_path / "x.glb"
    _one_line_error(capsys, ["mesh", sess, f"{flag}={value}", "--out", out], flag, "out of range")
    assert not out.exists()


def test_render_in_range_still_works(capsys, sess, tmp_path):
    out = tmp_path / "x.png"
    assert cli.main(["render", str(sess), "--yaw", "0.5", "--pitch", "-0.2", "--size", "32", "--out", str(out)]) == 0
    assert out.stat().st_size > 0


@pytest.mark.parametrize("cmd", [["render"], ["mesh", "--resolution", "64"]])
def test_out_in_a_missing_folder_is_refused_unless_parents(capsys, sess, tmp_path, cmd):
    out = tmp_path / "missing_dir" / ("y.png" if cmd[0] == "render" else "y.glb")
    argv = [cmd[0], str(sess), *cmd[1:], "--out", str(out)]
    _one_line_error(capsys, argv, "missing_dir", "does not exist", "--parents")
    assert not out.parent.exists()
    rc = cli.main(argv + ["--parents"])
    assert out.parent.is_dir() and "does not exist" not in capsys.readouterr().err
    if cmd[0] == "render":  # (the untrained tiny model has no surface to mesh)
        assert rc == 0 and out.is_file()


def test_serve_on_a_port_in_use_reports_the_bind_error_first(capsys, tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        rc = cli.main(["serve", "--port", str(port), "--checkpoint", "build:tiny", "--data-dir", str(tmp_path / "d")])
    out, err = capsys.readouterr()
    assert rc == 1 and "listening" not in out and out == "", out
    assert f"127.0.0.1:{port}" in err and "--port" in err and err.strip().count("\n") == 0, err
