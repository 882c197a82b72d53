"""Every method of the NATS gateway does its job: a command method publishes its command, a
query method asks and returns the reply. (A merge once left a method with its docstring only,
which type checks and silently drops the command.)"""

from __future__ import annotations

import ast
import inspect

from services.portal import gateway


def test_every_gateway_method_sends_or_asks() -> None:
    source = inspect.getsource(gateway.NatsGateway)
    tree = ast.parse(source)
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    wrong = []
    for method in cls.body:
        if not isinstance(method, ast.AsyncFunctionDef) or method.name.startswith("_"):
            continue
        text = ast.get_source_segment(source, method) or ""
        names = [a.arg for a in method.args.args]
        if "command" in names and "self._send(command)" not in text:
            wrong.append(method.name)
        if "query" in names and ("ask(" not in text or "return" not in text):
            wrong.append(method.name)
    assert wrong == []
    protocol = {n for n, v in vars(gateway.Gateway).items() if inspect.iscoroutinefunction(v)}
    assert protocol <= set(vars(gateway.NatsGateway))
