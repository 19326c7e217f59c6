"""The media server's commands with the rtmp backend: run_media execs nginx, media_config checks it."""

import shutil

import pytest
from django.core.management import call_command


@pytest.fixture
def run_dir(settings, tmp_path):
    settings.STREAMING_BACKEND = "rtmp"
    settings.RUN_DIR = tmp_path / "run"
    settings.MEDIA_ROOT = tmp_path / "media"
    return (tmp_path / "run").resolve()


def test_run_media_execs_nginx_with_the_rendered_config(run_dir, monkeypatch):
    from streams.management.commands import run_media

    executed = []
    monkeypatch.setattr(run_media.os, "execv", lambda path, args: executed.append((path, args)))
    call_command("run_media")
    [(path, command)] = executed
    assert path == command[0] and command[0].endswith("nginx")
    assert command[1:] == ["-p", str(run_dir), "-c", str(run_dir / "nginx.conf")]
    assert (run_dir / "nginx.conf").exists()


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed")
def test_media_config_writes_and_checks_the_nginx_config(run_dir, capsys):
    call_command("media_config")
    assert capsys.readouterr().out.strip() == str(run_dir / "nginx.conf")
