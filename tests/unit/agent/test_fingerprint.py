"""Node fingerprint: Nomad's attribute names with real host values, drivers folded in."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import msgspec
import psutil

from gitorch.agent.fingerprint import (
    MIB,
    HostFingerprint,
    driver_fingerprints,
    fingerprint,
    merge_drivers,
)
from gitorch.core.task import DriverFingerprint
from gitorch.plugins.builtin.mock import MockDriver

NUMERIC = [
    "cpu.numcores",
    "cpu.frequency",
    "cpu.totalcompute",
    "memory.totalbytes",
    "unique.storage.bytestotal",
    "unique.storage.bytesfree",
]


def test_host_attributes_have_nomad_names_and_real_values(tmp_path: Path) -> None:
    fp = fingerprint(str(tmp_path))
    attrs = fp.attributes
    for key in [*NUMERIC, "cpu.arch", "kernel.name", "kernel.version", "os.name"]:
        assert attrs.get(key), key
    for key in NUMERIC:
        assert int(attrs[key]) > 0, key
    assert attrs["kernel.name"] == "linux" and attrs["kernel.version"] == os.uname().release
    assert attrs["unique.hostname"] == socket.gethostname()
    assert attrs["memory.totalbytes"] == str(psutil.virtual_memory().total)
    assert int(attrs["cpu.numcores"]) == len(os.sched_getaffinity(0))
    assert int(attrs["cpu.totalcompute"]) == int(attrs["cpu.frequency"]) * int(
        attrs["cpu.numcores"]
    )
    assert attrs["gitorch.version"] and "SIGTERM" in attrs["os.signals"].split(",")
    assert fp.cpu_mhz == int(attrs["cpu.totalcompute"])
    assert fp.memory_mb == psutil.virtual_memory().total // MIB
    assert fp.disk_mb == int(attrs["unique.storage.bytesfree"]) // MIB
    assert fp.resources.cpu.cpu_shares == fp.cpu_mhz
    assert fp.resources.memory.memory_mb == fp.memory_mb


def test_missing_data_dir_uses_its_nearest_parent(tmp_path: Path) -> None:
    fp = fingerprint(str(tmp_path / "not" / "yet"))
    assert int(fp.attributes["unique.storage.bytestotal"]) == psutil.disk_usage(tmp_path).total


def test_overrides(tmp_path: Path) -> None:
    fp = fingerprint(str(tmp_path), cpu_total_compute=4000, memory_total_mb=2048)
    assert fp.cpu_mhz == 4000 and fp.attributes["cpu.totalcompute"] == "4000"
    assert fp.memory_mb == 2048 and fp.attributes["memory.totalbytes"] == str(2048 * MIB)


def test_healthy_drivers_are_folded_in(tmp_path: Path) -> None:
    drivers = {
        "mock": MockDriver(),
        "sad": MockDriver({"health": "unhealthy", "health_description": "broken"}),
    }
    fp = fingerprint(str(tmp_path), drivers)
    assert fp.attributes["driver.mock"] == "1"
    assert "driver.sad" not in fp.attributes
    assert fp.drivers["sad"].health_description == "broken"
    assert msgspec.json.decode(msgspec.json.encode(fp), type=HostFingerprint) == fp


def test_a_driver_whose_fingerprint_raises_is_unhealthy() -> None:
    class Broken(MockDriver):
        def fingerprint(self) -> DriverFingerprint:
            raise RuntimeError("no daemon")

    fps = driver_fingerprints({"broken": Broken(), "mock": MockDriver()})
    assert fps["broken"].health == "unhealthy"
    assert "RuntimeError: no daemon" in fps["broken"].health_description
    assert fps["mock"].healthy


def test_merge_drivers_is_pure() -> None:
    host = {"kernel.name": "linux"}
    fps = {
        "docker": DriverFingerprint(health="healthy", attributes={"driver.docker.version": "27"}),
        "qemu": DriverFingerprint(health="undetected", attributes={"driver.qemu.version": "8"}),
    }
    assert merge_drivers(host, fps) == {
        "kernel.name": "linux",
        "driver.docker": "1",
        "driver.docker.version": "27",
    }
    assert host == {"kernel.name": "linux"}


def test_network_address_is_the_bind_address_or_a_real_interface() -> None:
    from gitorch.agent.fingerprint import network_address

    assert network_address("10.1.2.3") == "10.1.2.3"
    assert network_address("127.0.0.1") == "127.0.0.1"
    found = network_address("0.0.0.0")
    assert found.count(".") == 3 and found != "0.0.0.0"
