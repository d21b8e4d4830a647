"""Template watches re-render on inputs from provider plugins: a consul-named reader's
``wait_change`` wakes the watch, a reader that cannot block is polled, and a template
that read a secret reads it again on the secret timer. The watcher runs for real (its
loop, thread and pools); the providers are small in-memory ones."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from gitorch.agent.providersource import OtherSources
from gitorch.agent.templatesource import ServerTemplateSource
from gitorch.agent.templatewatch import TaskWatch, TemplateWatcher
from gitorch.core.model import Template
from gitorch.core.model.job import WaitConfig
from gitorch.core.task import TaskConfig
from gitorch.plugins.providers import (
    SecretsLease,
    SecretsLogin,
    TaskIdentity,
    TemplateReader,
    TemplateSource,
)

pytestmark = pytest.mark.timeout(60)
QUICK = WaitConfig(min=10_000_000, max=50_000_000)  # 10 ms .. 50 ms


class Actions:
    def __init__(self) -> None:
        self.restarts: list[str] = []

    def restart(self, reason: str) -> None:
        self.restarts.append(reason)

    def signal(self, sig: str) -> None:
        raise AssertionError("no signal expected")

    def exec(self, cmd: Sequence[str], timeout_s: float) -> tuple[bytes, int]:
        raise AssertionError("no script expected")

    def note(self, type_: str, display: str, task_signal: str = "") -> None:
        pass

    def kill(self, reason: str) -> None:
        raise AssertionError(f"the task was killed: {reason}")


class KV:
    """A key/value store with an index, as Consul's (blocking or not)."""

    def __init__(self, blocking: bool) -> None:
        self.blocking = blocking
        self.data = {"app/mode": "blue"}
        self.index = 1
        self.cond = threading.Condition()
        self.waits = 0

    def put(self, key: str, value: str) -> None:
        with self.cond:
            self.data[key] = value
            self.index += 1
            self.cond.notify_all()


class KVReader(TemplateReader):
    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self.seen = -1

    def key(self, path: str) -> str | None:
        with self.kv.cond:
            self.seen = self.kv.index
            return self.kv.data.get(path)

    def wait_change(self, timeout_s: float) -> bool:
        self.kv.waits += 1
        if not self.kv.blocking:
            return False  # a backend without blocking queries answers at once
        with self.kv.cond:
            return self.kv.cond.wait_for(lambda: self.kv.index != self.seen, timeout_s)


class KVSource(TemplateSource):
    name = "consul"

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def reader(self, task: TaskIdentity) -> TemplateReader:
        return KVReader(self.kv)


class Lease(SecretsLease):
    def __init__(self) -> None:
        super().__init__(SecretsLogin(token="t0"))
        self.password = "one"
        self.reads = 0

    def read(self, path: str) -> Mapping[str, Any] | None:
        self.reads += 1
        return {"data": {"password": self.password}}

    def list(self, path: str) -> list[str] | None:
        return None


def config(tmp_path: Path) -> TaskConfig:
    task_dir = tmp_path / "t"
    (task_dir / "local").mkdir(parents=True)
    return TaskConfig(
        alloc_id="a1", task_name="t", driver="raw_exec", task_dir=str(task_dir),
        alloc_dir=str(tmp_path), log_dir=str(tmp_path), env={},
    )  # fmt: skip


@pytest.fixture
def watcher() -> Iterator[TemplateWatcher]:
    w = TemplateWatcher(default_wait=QUICK, block_wait_s=0.3, secret_poll_s=0.3)
    try:
        yield w
    finally:
        w.close()


def watch(
    watcher: TemplateWatcher, tmp_path: Path, text: str, others: OtherSources
) -> tuple[Path, Actions]:
    cfg, actions = config(tmp_path), Actions()
    source = ServerTemplateSource([], others=others)  # no servers: only the providers
    tpl = Template(dest_path="local/out", embedded_tmpl=text, change_mode="restart")
    watcher.watch(TaskWatch("a1", cfg, [tpl], source, actions))
    return Path(cfg.task_dir, "local/out"), actions


def wait_until(cond: Any, what: str, timeout: float = 20.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        done.wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("blocking", [True, False], ids=["blocking", "polled"])
def test_a_key_change_re_renders_and_restarts(
    watcher: TemplateWatcher, tmp_path: Path, blocking: bool
) -> None:
    kv = KV(blocking)
    out, actions = watch(watcher, tmp_path, 'mode={{ key "app/mode" }}', OtherSources(KVSource(kv)))
    wait_until(lambda: out.exists() and out.read_text() == "mode=blue", "the first render")
    assert actions.restarts == []  # the first render wrote the file: nothing to act on
    kv.put("app/mode", "green")
    wait_until(lambda: out.read_text() == "mode=green", "the re-render")
    wait_until(lambda: len(actions.restarts) == 1, "the restart")
    assert kv.waits >= 1 and watcher.watching() == [("a1", "t")]


def test_a_secret_is_read_again_on_the_secret_timer(
    watcher: TemplateWatcher, tmp_path: Path
) -> None:
    lease = Lease()
    others = OtherSources(secrets_installed=True, lease=lease)
    text = '{{ with secret "secret/data/app" }}{{ .Data.data.password }}{{ end }}'
    out, actions = watch(watcher, tmp_path, text, others)
    wait_until(lambda: out.exists() and out.read_text() == "one", "the first render")
    lease.password = "two"
    wait_until(lambda: out.read_text() == "two", "the secret read again")
    wait_until(lambda: len(actions.restarts) == 1, "the restart")
    assert lease.reads >= 2


def test_a_template_reading_only_env_is_not_watched(
    watcher: TemplateWatcher, tmp_path: Path
) -> None:
    out, _ = watch(watcher, tmp_path, "plain", OtherSources())
    wait_until(lambda: out.exists(), "the render")
    wait_until(lambda: watcher.watching() == [], "the watch to end")
