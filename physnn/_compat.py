"""What differs between the Python versions physnn supports (one home for each shim)."""

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as the tomli package
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["tomllib"]
