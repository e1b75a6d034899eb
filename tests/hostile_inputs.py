"""Hostile inputs shared by the hardening scenarios and the fuzz suite."""

from __future__ import annotations


def alias_bomb(levels: int = 9) -> str:
    """YAML of a few hundred bytes whose aliases expand to 9**levels scalars ("billion laughs")."""
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, levels):
        text += f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]\n"
    return text


def deep_nesting(depth: int) -> str:
    """A flow sequence nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth
