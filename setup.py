"""Installs neos and relaxed; every setting lives in settings.ini."""

from configparser import ConfigParser
from pathlib import Path

from setuptools import setup

cfg = ConfigParser()
cfg.read(Path(__file__).parent / "settings.ini")
meta = cfg["DEFAULT"]

package_data: dict[str, list[str]] = {}
for entry in meta["package_data"].split():  # "package:glob" pairs
    package, _, pattern = entry.partition(":")
    package_data.setdefault(package, []).append(pattern)

setup(
    name=meta["lib_name"],
    version=meta["version"],
    description=meta["description"],
    long_description=(Path(__file__).parent / "README.md").read_text(),
    long_description_content_type="text/markdown",
    keywords=meta["keywords"].split(),
    author=meta["author"],
    author_email=meta["author_email"],
    license="Apache-2.0",
    python_requires=f">={meta['min_python']}",
    packages=meta["packages"].split(),
    package_data=package_data,
    install_requires=meta["requirements"].split(),
    extras_require={
        "test": meta["test_requirements"].split(),
        "dask": meta["dask_requirements"].split(),
    },
    entry_points={"console_scripts": meta["console_scripts"].split()},
)
