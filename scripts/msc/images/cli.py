"""scripts/images: build the container images the kind tier and the demo need, offline (no registry is
reachable here).

Usage:
  scripts/images kind-node [--rebuild]   # ml-serving-charts/kind-node:<Kubernetes version from pins.toml>
  scripts/images IMAGE|GROUP [--rebuild] # an image the charts run (images/models/README.md; `scripts/images -h`
                                         # lists them); groups: models, seldon-servers, monitoring,
                                         # autoscaling, all
  scripts/images seldon [--rebuild]      # Seldon Core 1.17.1 operator and executor, from the verified source
  scripts/images kserve [--rebuild]      # KServe 0.20.0 controller and router, from the verified source
                                         # (`all` builds every image above, kind-node, seldon and kserve)
  scripts/images list                    # every layer, whether it is built, its id and size
  scripts/images lock [NAME ...]         # re-resolve the python environments' hash-locked requirements
  scripts/images smoke [NAME ...]        # run each built image as the pods do and check its answers

Every layer is cached by a digest of its inputs; --rebuild debootstraps again and rebuilds every layer.
Needs root (debootstrap, dockerd); the Docker engine is started when none answers."""
from __future__ import annotations

import argparse
import contextlib
import sys

from .. import dockerd
from ..env import ROOT
from ..proc import MscError
from . import kserve, locks, seldon, smoke
from .apps import APP_IMAGES, IMAGE_GROUPS, PYTHON_IMAGE, build_app_images, python_envs
from .core import image_id, image_size_mb, log
from .kind_node import (EXTRA_PAUSE_TAGS, NODE_IMAGE, build_kind_node, kubeadm_images, netbase_image,
                        node_layer_image)
from .rootfs import ROOTFS_PACKAGES, rootfs_image, rootfs_tarball


def list_images() -> int:
    print(f"{'layer':<62}{'state':<10}key / id")
    for flavour in ROOTFS_PACKAGES:
        t = rootfs_tarball(flavour)
        print(f"{'rootfs ' + flavour + ' tarball':<62}{'cached' if t.exists() else 'missing':<10}{t}")
    refs = [rootfs_image("node"), rootfs_image("netbase"), netbase_image()]
    with contextlib.suppress(MscError):
        refs += [*kubeadm_images().values(), *EXTRA_PAUSE_TAGS]
    refs += [node_layer_image(), NODE_IMAGE, rootfs_image("python"), PYTHON_IMAGE,
             *(env["image"] for env in python_envs().values() if "image" in env), *APP_IMAGES.values(),
             *(ref for _, _, ref in seldon.SELDON_IMAGES.values()), *(ref for _, _, ref in kserve.KSERVE_IMAGES.values())]
    for ref in refs:
        iid = image_id(ref)
        print(f"{ref:<62}{'present' if iid else 'missing':<10}{(iid or '')[:19]}"
              f"{f'  {image_size_mb(ref):.0f} MB' if iid else ''}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/images", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_node = sub.add_parser("kind-node", help=f"build {NODE_IMAGE} (offline kind node image)")
    p_node.add_argument("--rebuild", action="store_true", help="debootstrap again and rebuild every image layer")
    sub.add_parser("list", help="show each layer and whether it is built")
    sub.add_parser("seldon", help="build the Seldon Core operator and executor images from source").add_argument(
        "--rebuild", action="store_true", help="import the images again")
    sub.add_parser("kserve", help="build the KServe controller and router images from source").add_argument(
        "--rebuild", action="store_true", help="import the images again")
    sub.add_parser("lock", help="re-resolve the python environments' locks").add_argument("envs", nargs="*")
    sub.add_parser("smoke", help="check each built image in plain Docker").add_argument("names", nargs="*")
    for target in [*APP_IMAGES, *IMAGE_GROUPS]:
        what = APP_IMAGES.get(target) or ", ".join(IMAGE_GROUPS[target]) + (" and kind-node" if target == "all" else "")
        sub.add_parser(target, help=f"build {what}").add_argument(
            "--rebuild", action="store_true", help="rebuild every image layer (and debootstrap again)")
    args = parser.parse_args(argv)
    try:
        if args.command == "lock":
            for name in args.envs or list(python_envs()):
                path = locks.lock(name)
                pinned = [line.split()[0] for line in path.read_text().splitlines() if line and line[0].isalpha()]
                print(f"{path.relative_to(ROOT)}: {len(pinned)} packages")
            return 0
        if args.command == "seldon":
            seldon.build_all(args.rebuild)
            return 0
        if args.command == "kserve":
            kserve.build_all(args.rebuild)
            return 0
        if args.command == "smoke":
            dockerd.ensure()
            return smoke.main(args.names)
        if args.command == "list":
            dockerd.ensure()
            return list_images()
        if args.command == "kind-node" or args.command == "all":
            build_kind_node(args.rebuild)
        if args.command != "kind-node":
            build_app_images(IMAGE_GROUPS.get(args.command, [args.command]), args.rebuild)
        if args.command == "all":
            seldon.build_all(args.rebuild)
            kserve.build_all(args.rebuild)
        return 0
    except MscError as err:
        log(f"FAILED: {err}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; finished layers stay cached")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
