"""The kvm device plugin: against this machine's /dev/kvm where it opens, and against
injected paths (missing, not a device) everywhere; then discovery through the
``gitorch`` entry point, as ``gitorch plugin list`` shows it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from gitorch.errors import DriverError
from gitorch.plugins.device import DeviceSpec, Reservation
from gitorch.plugins.manager import PluginManager

from gitorch_kvm import KvmDevicePlugin
from gitorch_kvm.plugin import probe


def kvm_usable() -> str:
    """Why this machine's /dev/kvm cannot be used, or "" when it can."""
    if not os.path.exists("/dev/kvm"):
        return "this machine has no /dev/kvm"
    return probe("/dev/kvm")[0]


needs_kvm = pytest.mark.skipif(bool(kvm_usable()), reason=kvm_usable() or "kvm usable")


@needs_kvm
def test_fingerprint_finds_this_machines_kvm() -> None:
    plugin = KvmDevicePlugin()
    [group] = plugin.fingerprint()
    assert (group.vendor, group.type, group.name) == ("linux", "kvm", "kvm")
    assert group.id_string() == "linux/kvm/kvm"
    assert [(i.id, i.healthy, i.health_description) for i in group.instances] == [
        ("kvm0", True, "")
    ]
    assert group.attributes["api_version"] == "12"  # KVM_API_VERSION, stable since 2.6.22
    assert int(group.attributes.get("max_vcpus", "1")) >= 1
    assert plugin.health() == plugin.health().__class__(True, "Healthy")


@needs_kvm
def test_instances_share_the_device() -> None:
    [group] = KvmDevicePlugin({"instances": 3}).fingerprint()
    assert [i.id for i in group.instances] == ["kvm0", "kvm1", "kvm2"]
    assert all(i.healthy for i in group.instances)


def test_reserve_binds_dev_kvm() -> None:
    reservation = KvmDevicePlugin().reserve(["kvm0"])
    assert reservation == Reservation(
        devices=[DeviceSpec(host_path="/dev/kvm", task_path="/dev/kvm", permissions="rwm")]
    )
    assert reservation.envs == {} and reservation.mounts == []
    assert msgspec.json.decode(msgspec.json.encode(reservation), type=Reservation) == reservation
    assert KvmDevicePlugin().reserve([]) == Reservation()


def test_reserve_from_another_path_is_seen_as_dev_kvm(tmp_path: Path) -> None:
    plugin = KvmDevicePlugin({"device_path": str(tmp_path / "kvm")})
    [spec] = plugin.reserve(["kvm0"]).devices
    assert spec.host_path == str(tmp_path / "kvm") and spec.target == "/dev/kvm"


def test_reserve_unknown_instance_is_an_error() -> None:
    with pytest.raises(DriverError, match="kvm1") as err:
        KvmDevicePlugin().reserve(["kvm0", "kvm1"])
    assert "known: kvm0" in str(err.value)


def test_missing_device_means_no_devices_and_healthy(tmp_path: Path) -> None:
    plugin = KvmDevicePlugin({"device_path": str(tmp_path / "no-kvm-here")})
    assert plugin.fingerprint() == []
    health = plugin.health()
    assert health.healthy and "no KVM" in health.description


def test_not_a_device_is_an_unhealthy_instance(tmp_path: Path) -> None:
    fake = tmp_path / "kvm"
    fake.write_text("")
    [group] = KvmDevicePlugin({"device_path": str(fake)}).fingerprint()
    [instance] = group.instances
    assert not instance.healthy and "not a character device" in instance.health_description
    assert group.attributes == {}


def test_a_device_that_is_not_kvm_has_no_attributes() -> None:
    # /dev/null is a character device that is not KVM: it opens, the ioctls fail.
    [group] = KvmDevicePlugin({"device_path": "/dev/null"}).fingerprint()
    assert group.instances[0].healthy and group.attributes == {}


def test_plugin_config_is_validated() -> None:
    problems = KvmDevicePlugin.validate_plugin_config(
        {"instances": 0, "device_path": "dev/kvm", "x": 1}
    )
    assert problems == [
        "plugin.kvm.config.x: unknown field (known: device_path, instances)",
        "plugin.kvm.config.instances: must be at least 1, got 0",
        "plugin.kvm.config.device_path: must be absolute, got 'dev/kvm'",
    ]


def test_the_manager_builds_it_from_its_entry_point() -> None:
    pm = PluginManager()
    pm.load_plugins(environ={})
    assert pm.device_classes()["kvm"] is KvmDevicePlugin
    built = pm.devices({"kvm": {"device_path": "/nonexistent/kvm"}})
    assert isinstance(built["kvm"], KvmDevicePlugin) and built["kvm"].fingerprint() == []
    assert not [e for e in pm.errors if e.name == "kvm"]


def test_plugin_list_shows_it() -> None:
    try:
        version = importlib.metadata.version("gitorch-kvm")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("gitorch-kvm is not installed: pip install -e plugins_contrib/gitorch-kvm")
    env = {k: v for k, v in os.environ.items() if k != "GITORCH_DISABLE_PLUGINS"}
    args = [sys.executable, "-m", "gitorch", "plugin", "list", "--json"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=True)
    rows = {row["name"]: row for row in json.loads(done.stdout)["Plugins"]}
    kvm = rows["kvm"]
    assert (kvm["dist"], kvm["version"], kvm["devices"]) == ("gitorch-kvm", version, ["kvm"])
    assert kvm["hooks"] == ["register_devices"]
