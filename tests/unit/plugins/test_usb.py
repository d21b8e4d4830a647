"""The usb device plugin against a fake sysfs tree (and the real /sys, whatever it
holds); the built-in plugin registers it and nvidia through register_devices."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitorch.errors import DriverError
from gitorch.plugins.builtin.usb import UsbDevicePlugin, scan
from gitorch.plugins.device import DevicePlugin, DeviceSpec
from gitorch.plugins.hookspecs import hookimpl
from gitorch.plugins.manager import DISABLE_ENV, PluginManager, load


def add_device(
    sysfs: Path, dev: Path, port: str, vendor: str, product_id: str, devnum: int, **files: str
) -> None:
    d = sysfs / "bus" / "usb" / "devices" / port
    d.mkdir(parents=True)
    busnum = int(port.removeprefix("usb").split("-")[0])
    values = {"idVendor": vendor, "idProduct": product_id, "busnum": str(busnum)}
    values |= {"devnum": str(devnum), "bDeviceClass": "00"} | files
    for name, value in values.items():
        (d / name).write_text(value + "\n")
    node = dev / "bus" / "usb" / f"{busnum:03d}" / f"{devnum:03d}"
    node.parent.mkdir(parents=True, exist_ok=True)
    node.touch()


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """Two 0403:6001 serial adapters, one Logitech receiver, plus what sysfs also lists
    and must be skipped: a root hub, an interface, a hub."""
    sysfs, dev = tmp_path / "sys", tmp_path / "dev"
    ftdi = {"manufacturer": "FTDI", "product": "FT232R USB UART"}
    add_device(sysfs, dev, "1-1", "0403", "6001", 2, serial="A50285BI", **ftdi)
    add_device(sysfs, dev, "1-2.1", "0403", "6001", 5, **ftdi)  # no serial: its port
    add_device(sysfs, dev, "2-3", "046d", "C52B", 7, product="USB Receiver")
    add_device(sysfs, dev, "usb1", "1d6b", "0002", 1)  # root hub
    add_device(sysfs, dev, "1-2", "05e3", "0610", 3, bDeviceClass="09")  # a hub
    interface = sysfs / "bus" / "usb" / "devices" / "1-1:1.0"
    interface.mkdir()
    (interface / "bInterfaceClass").write_text("ff\n")
    return sysfs, dev


def plugin(tree: tuple[Path, Path], **config: list[str]) -> UsbDevicePlugin:
    sysfs, dev = tree
    return UsbDevicePlugin(config, sysfs=str(sysfs), dev_root=str(dev))


def test_devices_grouped_by_vendor_and_product(tree: tuple[Path, Path]) -> None:
    ftdi, logi = plugin(tree).fingerprint()
    assert ftdi.id_string() == "0403/usb/6001"
    assert [(i.id, i.healthy) for i in ftdi.instances] == [("A50285BI", True), ("1-2.1", True)]
    assert ftdi.attributes == {"manufacturer": "FTDI", "product": "FT232R USB UART"}
    assert logi.id_string() == "046d/usb/c52b"  # hex IDs lower-cased, as lsusb prints
    assert [i.id for i in logi.instances] == ["2-3"]
    assert logi.attributes == {"product": "USB Receiver"}


def test_reserve_gives_the_device_nodes(tree: tuple[Path, Path]) -> None:
    p = plugin(tree)
    p.fingerprint()
    res = p.reserve(["1-2.1", "A50285BI"])
    dev = tree[1]
    assert res.devices == [
        DeviceSpec(host_path=f"{dev}/bus/usb/001/005", task_path="/dev/bus/usb/001/005"),
        DeviceSpec(host_path=f"{dev}/bus/usb/001/002", task_path="/dev/bus/usb/001/002"),
    ]
    assert res.envs == {} and res.mounts == []
    with pytest.raises(DriverError, match="unknown device instance.*9-9"):
        p.reserve(["9-9"])


def test_replugged_device_gets_its_new_node(tree: tuple[Path, Path]) -> None:
    sysfs, dev = tree
    p = plugin(tree)
    p.fingerprint()
    (sysfs / "bus/usb/devices/2-3/devnum").write_text("12\n")
    (dev / "bus/usb/002/012").touch()
    [spec] = p.reserve(["2-3"]).devices
    assert spec.task_path == "/dev/bus/usb/002/012"


def test_missing_device_node_is_unhealthy(tree: tuple[Path, Path]) -> None:
    (tree[1] / "bus/usb/002/007").unlink()
    p = plugin(tree)
    logi = p.fingerprint()[1]
    [inst] = logi.instances
    assert not inst.healthy and "/bus/usb/002/007 does not exist" in inst.health_description
    with pytest.raises(DriverError, match="does not exist"):
        p.reserve(["2-3"])


def test_duplicate_serials_fall_back_to_ports(tmp_path: Path) -> None:
    sysfs, dev = tmp_path / "sys", tmp_path / "dev"
    add_device(sysfs, dev, "1-1", "1234", "abcd", 2, serial="0001")
    add_device(sysfs, dev, "1-2", "1234", "abcd", 3, serial="0001")
    [group] = UsbDevicePlugin(sysfs=str(sysfs), dev_root=str(dev)).fingerprint()
    assert [i.id for i in group.instances] == ["1-1", "1-2"]


def test_excluded_and_included_vendors(tree: tuple[Path, Path]) -> None:
    assert [g.vendor for g in plugin(tree, excluded_vendor_ids=["0x0403"]).fingerprint()] == [
        "046d"
    ]
    assert [g.vendor for g in plugin(tree, included_vendor_ids=["0403"]).fingerprint()] == ["0403"]
    both = plugin(tree, included_vendor_ids=["0403"], excluded_vendor_ids=["0403"])
    assert both.fingerprint() == []
    with pytest.raises(DriverError):
        plugin(tree, excluded_vendor_ids=["046d"]).reserve(["2-3"])


def test_config_is_validated() -> None:
    problems = UsbDevicePlugin.validate_plugin_config({"excluded_vendor_ids": "046d", "x": 1})
    assert problems == [
        "plugin.usb.config.excluded_vendor_ids: must be a list of strings",
        "plugin.usb.config.x: unknown field (known: excluded_vendor_ids, included_vendor_ids)",
    ]


def test_no_usb_sysfs_means_no_devices(tmp_path: Path) -> None:
    p = UsbDevicePlugin(sysfs=str(tmp_path / "nothing"))
    assert p.fingerprint() == [] and p.health().healthy and p.stats() == {}
    assert scan(str(tmp_path)) == []


def test_the_real_sys_does_not_crash_it() -> None:
    p = UsbDevicePlugin()
    groups = p.fingerprint()
    assert all(g.type == "usb" for g in groups)
    assert p.health().healthy


# -- registration --------------------------------------------------------------------


def test_builtin_registers_nvidia_and_usb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    pm = load()
    assert {"nvidia", "usb"} <= set(pm.device_classes())
    devices = pm.devices({"usb": {"excluded_vendor_ids": ["1d6b"]}})
    assert {"nvidia", "usb"} <= set(devices)
    assert [e for e in pm.errors if e.name == "builtin"] == []  # others' plugins may vary
    [row] = [r for r in pm.plugin_info() if r.name == "builtin"]
    assert {"nvidia", "usb"} <= set(row.devices) and "register_devices" in row.hooks


def test_bad_device_plugins_are_reported_and_skipped() -> None:
    class NotAPlugin:
        name = "bogus"

    class Exploding(UsbDevicePlugin):
        name = "exploding"

        def __init__(self, config: object = None) -> None:
            raise RuntimeError("boom")

    class Plugin:
        @hookimpl
        def register_devices(self) -> list[type]:
            return [NotAPlugin]

    class Other:
        @hookimpl
        def register_devices(self) -> list[type[DevicePlugin]]:
            return [Exploding]

    pm = PluginManager()
    pm.register(Plugin(), "bad")
    pm.register(Other(), "worse")
    built = pm.devices({"usb": {"nope": True}})
    assert built == {}
    messages = {e.name: e.message for e in pm.errors}
    assert "not a subclass of gitorch DevicePlugin" in messages["bad"]
    assert "constructor raised RuntimeError: boom" in messages["worse"]
