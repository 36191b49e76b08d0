"""Placeholder: being written."""


def register_checkpoint_safe_globals() -> None:
    pass
