"""HCL's CIDR functions, as Nomad registers them: ``cidrhost``, ``cidrnetmask``,
``cidrsubnet`` and ``cidrsubnets`` (IPv4 and IPv6, through :mod:`ipaddress`)."""

from __future__ import annotations

import ipaddress
from typing import Any

from gitorch.jobspec.functions import Caps, Function, FunctionError, to_int

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(prefix: str) -> Network:
    try:
        return ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        raise FunctionError("the prefix is not in CIDR notation (10.0.0.0/16)") from None


def _cidrhost(prefix: str, number: Any) -> str:
    net = _network(prefix)
    host = to_int(number)
    size = net.num_addresses
    if not -size <= host < size:
        raise FunctionError(f"host number {host} does not fit in a network of {size} addresses")
    base = int(net.network_address) + (host if host >= 0 else size + host)
    return str(ipaddress.ip_address(base) if net.version == 4 else ipaddress.IPv6Address(base))


def _cidrnetmask(prefix: str) -> str:
    net = _network(prefix)
    if net.version != 4:
        raise FunctionError("only IPv4 networks have a netmask")
    return str(net.netmask)


def _subnet(net: Network, bits: int, number: int) -> Network:
    if bits < 0 or net.prefixlen + bits > net.max_prefixlen:
        raise FunctionError(f"cannot extend a /{net.prefixlen} prefix by {bits} bits")
    if not 0 <= number < 2**bits:
        raise FunctionError(f"subnet number {number} does not fit in {bits} bits")
    length = net.prefixlen + bits
    base = int(net.network_address) + (number << (net.max_prefixlen - length))
    return ipaddress.ip_network((base, length))


def _cidrsubnet(prefix: str, newbits: Any, netnum: Any) -> str:
    return str(_subnet(_network(prefix), to_int(newbits), to_int(netnum)))


def _cidrsubnets(caps: Caps, prefix: str, *newbits: Any) -> list[str]:
    net = _network(prefix)
    caps.elements(len(newbits))
    out: list[str] = []
    cursor = int(net.network_address)
    for bits in (to_int(b) for b in newbits):
        length = net.prefixlen + bits
        if bits < 1 or length > net.max_prefixlen:
            raise FunctionError(f"cannot extend a /{net.prefixlen} prefix by {bits} bits")
        step = 1 << (net.max_prefixlen - length)
        cursor = (cursor + step - 1) // step * step
        sub = ipaddress.ip_network((cursor, length))
        if not sub.subnet_of(net):  # type: ignore[arg-type]
            raise FunctionError("the subnets do not fit in the prefix")
        out.append(str(sub))
        cursor += step
    return out


FUNCTIONS: dict[str, Function] = {
    "cidrhost": Function(("string", "number"), _cidrhost),
    "cidrnetmask": Function(("string",), _cidrnetmask),
    "cidrsubnet": Function(("string", "number", "number"), _cidrsubnet),
    "cidrsubnets": Function(("string",), _cidrsubnets, variadic="number", caps=True),
}
