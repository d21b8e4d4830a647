"""The usb device plugin: USB devices from sysfs, passed to tasks as device nodes.

Each entry of ``/sys/bus/usb/devices`` named ``<bus>-<port path>`` (``1-1.2``) is a
device (``usbN`` root hubs and ``1-1.2:1.0`` interfaces are skipped, and so are hubs,
class ``09``). Its files give ``idVendor``, ``idProduct``, ``busnum``, ``devnum`` and,
when the device has them, ``serial``, ``manufacturer`` and ``product``.

Devices of one vendor:product form one group ``<idVendor>/usb/<idProduct>`` (hex, as
``lsusb`` prints them: ``device "046d/usb/c52b" { count = 1 }``); ``manufacturer`` and
``product`` strings are group attributes. An instance's ID is its serial number when
the device has one that no other device of the group shares, else its port
(``1-1.2``), which stays the same across re-plugs. An instance is healthy when its
device node ``/dev/bus/usb/<BBB>/<DDD>`` exists.

``reserve`` looks the devices up again (their device numbers change when re-plugged)
and returns their device nodes.

Plugin config: ``included_vendor_ids`` (only these vendors) and
``excluded_vendor_ids`` (never these), hex IDs as ``lsusb`` prints them (``"046d"``,
``"0x046d"`` works too). The sysfs and /dev roots are constructor arguments, so tests
run against a fake tree.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from gitorch.errors import DriverError
from gitorch.plugins.device import (
    DevicePlugin,
    DeviceSpec,
    NodeDevice,
    NodeDeviceResource,
    Reservation,
)
from gitorch.plugins.driver import Field

log = logging.getLogger(__name__)

TYPE = "usb"
HUB_CLASS = "09"
_DEVICE_DIR = re.compile(r"\d+-\d+(\.\d+)*")  # 1-1, 1-1.2; not usb1 nor 1-1:1.0


@dataclass(frozen=True)
class UsbDevice:
    """One USB device as sysfs shows it."""

    port: str  # the sysfs name, <busnum>-<devpath>
    vendor: str
    product_id: str
    busnum: int
    devnum: int
    device_class: str = ""
    serial: str = ""
    manufacturer: str = ""
    product: str = ""

    @property
    def group(self) -> tuple[str, str]:
        return self.vendor, self.product_id

    def node_path(self, dev_root: str) -> str:
        return os.path.join(dev_root, "bus", "usb", f"{self.busnum:03d}", f"{self.devnum:03d}")


def _vendor_id(value: str) -> str:
    value = value.strip().lower()
    return value[2:] if value.startswith("0x") else value


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def scan(sysfs: str) -> list[UsbDevice]:
    """Every USB device under ``<sysfs>/bus/usb/devices``, sorted by port; none when
    the directory does not exist."""
    root = os.path.join(sysfs, "bus", "usb", "devices")
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    found = []
    for name in names:
        if not _DEVICE_DIR.fullmatch(name):
            continue
        path = os.path.join(root, name)
        vendor, product_id = _read(f"{path}/idVendor").lower(), _read(f"{path}/idProduct").lower()
        busnum, devnum = _read(f"{path}/busnum"), _read(f"{path}/devnum")
        if not (vendor and product_id and busnum.isdigit() and devnum.isdigit()):
            log.debug("usb device plugin: skipping %s (incomplete sysfs entry)", path)
            continue
        found.append(
            UsbDevice(
                port=name,
                vendor=vendor,
                product_id=product_id,
                busnum=int(busnum),
                devnum=int(devnum),
                device_class=_read(f"{path}/bDeviceClass").lower(),
                serial=_read(f"{path}/serial"),
                manufacturer=_read(f"{path}/manufacturer"),
                product=_read(f"{path}/product"),
            )
        )
    return found


def instance_id(device: UsbDevice, serial_count: Mapping[str, int]) -> str:
    """The device's serial when it has one unique in its group, else its port."""
    if device.serial and serial_count.get(device.serial, 0) == 1:
        return device.serial
    return device.port


class UsbDevicePlugin(DevicePlugin):
    name: ClassVar[str] = "usb"
    plugin_config_schema: ClassVar[dict[str, Field]] = {
        "included_vendor_ids": Field("list(string)", doc="offer only these vendors (hex)"),
        "excluded_vendor_ids": Field("list(string)", doc="never offer these vendors (hex)"),
    }

    def __init__(
        self,
        plugin_config: Mapping[str, Any] | None = None,
        *,
        sysfs: str = "/sys",
        dev_root: str = "/dev",
    ) -> None:
        super().__init__(plugin_config)
        self.sysfs, self.dev_root = sysfs, dev_root
        cfg = self.plugin_config
        self._included = {_vendor_id(v) for v in cfg.get("included_vendor_ids", [])}
        self._excluded = {_vendor_id(v) for v in cfg.get("excluded_vendor_ids", [])}

    def _wanted(self, device: UsbDevice) -> bool:
        if device.device_class == HUB_CLASS or device.vendor in self._excluded:
            return False
        return not self._included or device.vendor in self._included

    def _devices(self) -> dict[tuple[str, str], list[tuple[str, UsbDevice]]]:
        """The offered devices by (vendor, product), each with its instance ID."""
        groups: dict[tuple[str, str], list[UsbDevice]] = {}
        for device in scan(self.sysfs):
            if self._wanted(device):
                groups.setdefault(device.group, []).append(device)
        out = {}
        for key, members in groups.items():
            serials: dict[str, int] = {}
            for d in members:
                serials[d.serial] = serials.get(d.serial, 0) + 1
            out[key] = [(instance_id(d, serials), d) for d in members]
        return out

    def fingerprint(self) -> list[NodeDeviceResource]:
        groups = []
        for (vendor, product_id), members in self._devices().items():
            instances = []
            for iid, device in members:
                node = device.node_path(self.dev_root)
                ok = os.path.exists(node)
                why = "" if ok else f"device node {node} does not exist"
                instances.append(NodeDevice(id=iid, healthy=ok, health_description=why))
            first = members[0][1]
            attributes = {"manufacturer": first.manufacturer, "product": first.product}
            groups.append(
                NodeDeviceResource(
                    vendor=vendor,
                    type=TYPE,
                    name=product_id,
                    instances=instances,
                    attributes={k: v for k, v in attributes.items() if v},
                )
            )
        return groups

    def reserve(self, device_ids: Sequence[str]) -> Reservation:
        present = {iid: d for members in self._devices().values() for iid, d in members}
        ids = self.check_ids(device_ids, present)
        specs = []
        for iid in ids:
            node = present[iid].node_path(self.dev_root)
            if not os.path.exists(node):
                raise DriverError(f"device plugin usb: device {iid}: {node} does not exist")
            task_path = present[iid].node_path("/dev")
            specs.append(DeviceSpec(host_path=node, task_path=task_path, permissions="rwm"))
        return Reservation(devices=specs)


__all__ = ["UsbDevice", "UsbDevicePlugin", "scan"]
