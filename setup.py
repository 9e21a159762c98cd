"""Packaging logic that setup.cfg cannot express: the built-in plugins live under plugins/ but
install under names of their own (qrp_*), so nothing called "plugins" lands in site-packages."""

from setuptools import find_namespace_packages, setup

core = find_namespace_packages(include=["qrplatform", "qrplatform.*"])
builtins = find_namespace_packages("plugins", include=["qrp_*"])

setup(
    packages=core + builtins,
    package_dir={name: f"plugins/{name}" for name in builtins if "." not in name},
)
