"""Images for the docker driver: present or pulled (with the task's ``auth {}``, else the
plugin's ``auth { config | helper }``, else the daemon user's docker config), and
removed ``gc.image_delay`` after a task is destroyed when no container uses them.

Images known to be present are remembered, so a start costs no image inspect; a create
that still finds the image missing makes the driver ``forget`` and pull it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from gitorch.core.task import TaskConfig
from gitorch.errors import DriverError
from gitorch.plugins.builtin.docker_config import ContainerSpec, PluginSettings

log = logging.getLogger(__name__)


class ImageStore:
    """The images this driver uses on one daemon."""

    def __init__(self, sdk: Any, api: Any, settings: PluginSettings) -> None:
        self.sdk = sdk
        self.api = api
        self.settings = settings
        self._present: set[str] = set()
        self._due: dict[str, float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._sweeper: threading.Thread | None = None

    def ensure(self, cfg: TaskConfig, spec: ContainerSpec) -> None:
        """Make ``spec.image`` present (pull it when absent or when ``force_pull``)."""
        image = spec.image
        if spec.load:
            self._load(cfg, spec)
        if not spec.force_pull:
            if image in self._present:
                return
            try:
                self.api.inspect_image(image)
            except self.sdk.errors.NotFound:
                pass
            except self.sdk.errors.APIError as exc:
                raise DriverError(f"task {cfg.id}: cannot inspect image {image!r}: {exc}") from exc
            else:
                with self._lock:
                    self._present.add(image)
                return
        self._pull(cfg, spec)

    def forget(self, image: str) -> None:
        with self._lock:
            self._present.discard(image)

    def _load(self, cfg: TaskConfig, spec: ContainerSpec) -> None:
        """``docker load`` the task's image archive (config.load)."""
        try:
            with open(spec.load, "rb") as archive:
                for message in self.api.load_image(archive):
                    if isinstance(message, dict) and message.get("error"):
                        raise DriverError(
                            f"task {cfg.id}: config.load: docker load {spec.load}: "
                            f"{message['error']}"
                        )
        except OSError as exc:
            raise DriverError(
                f"task {cfg.id}: config.load: cannot read image archive {spec.load}: "
                f"{exc.strerror or exc} (fetch it with an artifact block)"
            ) from exc
        except DriverError:
            raise
        except Exception as exc:  # noqa: BLE001 - docker API errors
            why = getattr(exc, "explanation", None) or exc
            raise DriverError(
                f"task {cfg.id}: config.load: docker load {spec.load}: {why}"
            ) from exc
        self.forget(spec.image)

    def _pull_once(self, spec: ContainerSpec, repo: str, tag: str, auth: Any) -> str:
        """Pull; the error ("" when none), with the pull and activity timeouts."""
        began = last = time.monotonic()
        activity = self.settings.pull_activity_timeout_s
        try:
            for message in self.api.pull(
                repo, tag=tag or "latest", stream=True, decode=True, auth_config=auth
            ):
                now = time.monotonic()
                if isinstance(message, dict) and message.get("error"):
                    return str(message["error"])
                if now - began > spec.pull_timeout_s:
                    return (
                        f"the pull took longer than image_pull_timeout ({spec.pull_timeout_s:g}s)"
                    )
                if now - last > activity:
                    return f"no pull progress for pull_activity_timeout ({activity:g}s)"
                last = now
        except Exception as exc:  # noqa: BLE001 - any pull failure is reported below
            return str(getattr(exc, "explanation", None) or exc)
        return ""

    def _pull(self, cfg: TaskConfig, spec: ContainerSpec) -> None:
        image = spec.image
        repo, tag = self.sdk.utils.parse_repository_tag(image)
        try:
            auth = spec.auth or self._plugin_auth(repo)
        except Exception as exc:  # noqa: BLE001 - unreadable docker config, helper failure
            if not spec.auth_soft_fail:
                raise DriverError(f"task {cfg.id}: registry credentials: {exc}") from exc
            auth = None
        error = self._pull_once(spec, repo, tag, auth)
        if error and auth and spec.auth_soft_fail:
            log.info(
                "task %s: pull with credentials failed (%s); auth_soft_fail: without", cfg.id, error
            )
            error = self._pull_once(spec, repo, tag, None)
        if not error:
            try:
                self.api.inspect_image(image)
            except Exception as exc:  # noqa: BLE001
                error = f"the pull ended but the image is not there ({exc})"
        if error:
            raise DriverError(
                f"task {cfg.id}: image {image!r} is not on this node and pulling it failed: "
                f"{error}. Load it onto the node (docker load / docker import / docker build), "
                "or make its registry reachable (with an auth block if it needs credentials)"
            )
        with self._lock:
            self._present.add(image)

    def _plugin_auth(self, repo: str) -> dict[str, Any] | None:
        """Credentials for ``repo``'s registry from the plugin's ``auth`` block."""
        settings = self.settings
        if not (settings.auth_config or settings.auth_helper):
            return None
        registry, _ = self.sdk.auth.resolve_repository_name(repo)
        if settings.auth_config:
            store = self.sdk.auth.load_config(config_path=settings.auth_config)
        else:
            store = self.sdk.auth.AuthConfig({"credsStore": settings.auth_helper})
        found = store.resolve_authconfig(registry)
        return dict(found) if found else None

    def collect_later(self, image: str) -> None:
        """Remove ``image`` after ``gc.image_delay`` unless a container uses it then."""
        if not image:
            return
        with self._lock:
            self._due[image] = time.monotonic() + self.settings.gc_image_delay_s
            if self._sweeper is None:
                self._sweeper = threading.Thread(target=self._sweep, name="docker-image-gc")
                self._sweeper.daemon = True
                self._sweeper.start()
            self._wake.notify()

    def _sweep(self) -> None:
        """One thread removes the images whose delay is over."""
        while True:
            with self._lock:
                now = time.monotonic()
                ready = [image for image, when in self._due.items() if when <= now]
                for image in ready:
                    del self._due[image]
                if not ready:
                    self._wake.wait(min(self._due.values(), default=now + 3600) - now)
                    continue
            for image in ready:
                self._remove(image)

    def _remove(self, image: str) -> None:
        try:
            if self.api.containers(all=True, quiet=True, filters={"ancestor": image}):
                return
            self.api.remove_image(image)
        except Exception as exc:  # noqa: BLE001 - in use again, or already gone
            log.debug("image gc of %s skipped: %s", image, exc)
            return
        self.forget(image)
