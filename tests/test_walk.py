"""imgpar.walk: which files become tasks, in which order, and what is skipped."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from conftest import unprivileged

from imgpar.walk import Folder, Skipped, count_images, walk


def folders(items: Iterable[Folder | Skipped]) -> list[Folder]:
    return [item for item in items if isinstance(item, Folder)]


def skipped(items: Iterable[Folder | Skipped]) -> list[Skipped]:
    return [item for item in items if isinstance(item, Skipped)]


def found(items: Iterable[Folder | Skipped]) -> list[str]:
    """Every image path the walker yields, relative to its root, in order."""
    return [os.path.join(f.rel, name) for f in folders(items) for name in f.names]


def test_recursive_and_sorted(tree: Callable[..., Path]) -> None:
    root = tree(
        {
            "b.jpg": b"",
            "a.jpg": b"",
            "z/y.png": b"",
            "z/x.png": b"",
            "m/deep/er/c.jpg": b"",
            "m/n.gif": b"",
        }
    )
    items = list(walk([str(root)]))
    assert found(items) == [
        "a.jpg",
        "b.jpg",
        "m/n.gif",
        "m/deep/er/c.jpg",
        "z/x.png",
        "z/y.png",
    ]
    by_rel = {f.rel: f for f in folders(items)}
    assert by_rel[""].path == str(root)
    assert by_rel["m/deep/er"].path == os.path.join(str(root), "m", "deep", "er")
    assert all(f.root == str(root) for f in folders(items))
    assert skipped(items) == []


def test_extensions_case_insensitive(tree: Callable[..., Path]) -> None:
    root = tree(
        {
            "A.JPG": b"",
            "b.Jpeg": b"",
            "c.PNG": b"",
            "d.TiFf": b"",
            "e.WebP": b"",
            "f.tif": b"",
            "g.bmp": b"",
            "h.GIF": b"",
            "notes.txt": b"",
            "raw.CR2": b"",
            "noext": b"",
            "jpg": b"",
        }
    )
    assert found(walk([str(root)])) == [
        "A.JPG",
        "b.Jpeg",
        "c.PNG",
        "d.TiFf",
        "e.WebP",
        "f.tif",
        "g.bmp",
        "h.GIF",
    ]


def test_hidden_files_and_folders_skipped(tree: Callable[..., Path]) -> None:
    root = tree(
        {
            "a.jpg": b"",
            ".hidden.jpg": b"",
            ".git/objects/x.jpg": b"",
            ".thumbnails/t.png": b"",
            "sub/.DS_Store": b"",
            "sub/.imgpar-tmp-123-abcd.webp": b"",
            "sub/b.png": b"",
        }
    )
    items = list(walk([str(root)]))
    assert found(items) == ["a.jpg", "sub/b.png"]
    assert [f.rel for f in folders(items)] == ["", "sub"]


def test_output_folder_inside_source_skipped(tree: Callable[..., Path]) -> None:
    root = tree({"a.jpg": b"", "out/a.webp": b"", "out/old.jpg": b"", "sub/b.jpg": b""})
    assert found(walk([str(root)], exclude=str(root / "out"))) == ["a.jpg", "sub/b.jpg"]
    # Spelled differently, it is still the same folder.
    other_spelling = os.path.join(str(root), "sub", "..", "out")
    assert found(walk([str(root)], exclude=other_spelling)) == ["a.jpg", "sub/b.jpg"]
    # Without exclude, the folder is an ordinary subfolder.
    assert "out/old.jpg" in found(walk([str(root)]))


def test_output_folder_equal_to_source_is_still_walked(tree: Callable[..., Path]) -> None:
    root = tree({"a.jpg": b""})
    assert found(walk([str(root)], exclude=str(root))) == ["a.jpg"]


def test_symlinked_file_followed(tmp_path: Path, tree: Callable[..., Path]) -> None:
    root = tree({"a.jpg": b""})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "real.jpg").write_bytes(b"x")
    (root / "link.jpg").symlink_to(elsewhere / "real.jpg")
    (root / "linkdir").symlink_to(elsewhere, target_is_directory=True)
    items = list(walk([str(root)]))
    assert found(items) == ["a.jpg", "link.jpg", "linkdir/real.jpg"]
    assert skipped(items) == []


def test_symlink_loop_ends_with_a_note(tree: Callable[..., Path]) -> None:
    root = tree({"a.jpg": b"", "sub/b.jpg": b""})
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "sub" / "self").symlink_to(root / "sub", target_is_directory=True)
    items = list(walk([str(root)]))  # must end
    assert found(items) == ["a.jpg", "sub/b.jpg"]
    notes = skipped(items)
    paths = sorted(os.path.basename(n.path) for n in notes)
    assert paths == ["loop", "self"]
    assert all("loop" in n.reason for n in notes)


def test_links_to_no_file_say_what_they_are(tree: Callable[..., Path]) -> None:
    root = tree({"a.jpg": b""})
    (root / "l1").symlink_to(root / "l2")
    (root / "l2").symlink_to(root / "l1")
    (root / "gone.jpg").symlink_to(root / "nowhere.jpg")
    (root / "z.png").symlink_to("/dev/null")
    os.mkfifo(root / "fifo.jpg")
    os.mkfifo(root / "fifo.txt")  # no image's name: not ours to mention
    notes = {os.path.basename(n.path): n.reason for n in skipped(list(walk([str(root)])))}
    assert notes == {
        "gone.jpg": "broken symlink, skipped",
        "l1": "symlink loop, skipped",
        "l2": "symlink loop, skipped",
        "z.png": "not a regular file (a FIFO, socket or device), skipped",
        "fifo.jpg": "not a regular file (a FIFO, socket or device), skipped",
    }


def test_under_the_current_folder_notes_name_files_as_its_images_are_named(
    tree: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `imgpar info .` said `a.jpg` of an image and `./gone.jpg` of a link.
    root = tree({"a.jpg": b"", "sub/b.jpg": b""})
    (root / "gone.jpg").symlink_to(root / "nowhere.jpg")
    (root / "sub" / "gone.png").symlink_to(root / "nowhere.png")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    monkeypatch.chdir(root)
    items = list(walk(["."]))
    files = [f.file(n) for f in items if isinstance(f, Folder) for n in f.names]
    assert files == ["a.jpg", "sub/b.jpg"]
    assert sorted(n.path for n in skipped(items)) == ["gone.jpg", "sub/gone.png", "sub/loop"]


def test_a_folder_linked_twice_in_a_tree_is_walked_once_by_its_name(
    tree: Callable[..., Path],
) -> None:
    # Walked by both names, its images were converted twice, in place into
    # the very same outputs.
    root = tree({"real/r.jpg": b"", "a/b.jpg": b""})
    (root / "a" / "alias").symlink_to(root / "real", target_is_directory=True)
    (root / "linkdir").symlink_to(root / "real", target_is_directory=True)
    items = list(walk([str(root)]))
    assert found(items) == ["a/b.jpg", "real/r.jpg"]
    notes = {os.path.relpath(n.path, root): n.reason for n in skipped(items)}
    assert notes == {
        "a/alias": f"the same folder as {root / 'real'}, walked there",
        "linkdir": f"the same folder as {root / 'real'}, walked there",
    }


def test_links_to_one_folder_are_walked_in_the_order_the_walk_reaches_them(
    tree: Callable[..., Path],
) -> None:
    # a/la comes before b, depth first: the folder is walked as a/la, and
    # its outputs stay where earlier runs put them (a loop over a stack once
    # took b first, and orphaned them).
    root = tree({"t/x.jpg": b"", "a/y.jpg": b""})
    target = root.parent / f"{root.name}-target"
    (root / "t").rename(target)
    (root / "a" / "la").symlink_to(target, target_is_directory=True)
    (root / "b").symlink_to(target, target_is_directory=True)
    items = list(walk([str(root)]))
    assert found(items) == ["a/y.jpg", "a/la/x.jpg"]
    assert [os.path.relpath(n.path, root) for n in skipped(items)] == ["b"]


def test_in_place_a_source_reached_through_another_is_walked_once(
    tree: Callable[..., Path],
) -> None:
    # Converted twice, in place into the same outputs, by two workers at once.
    root = tree({"a/t.jpg": b"", "x/r.jpg": b""})
    (root / "a" / "lnk").symlink_to(root / "x", target_is_directory=True)
    sources = [str(root / "a"), str(root / "x")]
    items = list(walk(sources, in_place=True))
    assert [os.path.join(f.root, f.rel, n) for f in folders(items) for n in f.names] == [
        str(root / "a" / "t.jpg"), str(root / "x" / "r.jpg")
    ]  # fmt: skip
    assert [(n.path, n.reason) for n in skipped(items)] == [
        (str(root / "a" / "lnk"), f"the same folder as {root / 'x'}, walked there")
    ]
    # Into an --out, each SOURCE maps its folders its own way.
    assert len(found(walk(sources))) == 3


def test_a_disks_lost_and_found_is_not_walked(
    tree: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Readable by root alone: as a folder that cannot be read, it failed
    # every run over a disk. A folder of yours of that name is yours.
    root = tree({"a.jpg": b"", "lost+found/b.jpg": b"", ".hidden/c.jpg": b""})
    assert found(walk([str(root)])) == ["a.jpg", "lost+found/b.jpg"]
    monkeypatch.setattr(os.path, "ismount", lambda path: path == str(root))
    items = list(walk([str(root)]))
    assert found(items) == ["a.jpg"]
    assert skipped(items) == []


def test_broken_link_noted(tree: Callable[..., Path]) -> None:
    root = tree({"a.jpg": b""})
    (root / "gone.jpg").symlink_to(root / "missing.jpg")
    items = list(walk([str(root)]))
    assert found(items) == ["a.jpg"]
    (note,) = skipped(items)
    assert note.path == str(root / "gone.jpg")
    assert "broken" in note.reason


def test_file_source_taken_whatever_its_extension(tree: Callable[..., Path]) -> None:
    root = tree({"scan.dat": b"", "photo.JPG": b"", "sub/c.jpg": b"", "other.png": b""})
    items = list(walk([str(root / "scan.dat"), str(root / "sub"), str(root / "photo.JPG")]))
    # Files named in one folder come together (their names are decided
    # together), after the folders, and not the folder's other images.
    assert [(f.root, f.rel, f.names, f.named) for f in folders(items)] == [
        (str(root / "sub"), "", ("c.jpg",), False),
        (str(root), "", ("photo.JPG", "scan.dat"), True),
    ]


def test_a_file_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert [(f.path, f.names) for f in folders(walk(["a.jpg"]))] == [(".", ("a.jpg",))]


def test_sources_walked_in_the_order_of_their_paths(tree: Callable[..., Path]) -> None:
    """Not as named: which of two SOURCES mapping into one output folder
    claims a name first must not depend on the command line's order."""
    root = tree({"b/1.jpg": b"", "a/2.jpg": b"", "c.jpg": b"", "b/3.jpg": b""})
    for order in ([root / "b", root / "a"], [root / "a", root / "b"]):
        named = [str(root / "b" / "3.jpg"), str(root / "c.jpg"), *map(str, order)]
        assert [(f.root, f.names) for f in folders(walk(named))] == [
            (str(root / "a"), ("2.jpg",)),
            (str(root / "b"), ("1.jpg", "3.jpg")),
            (str(root), ("c.jpg",)),
            (str(root / "b"), ("3.jpg",)),
        ]


def test_walk_is_lazy(tree: Callable[..., Path]) -> None:
    """The first folder arrives before a later sibling folder is even listed:
    files created in the sibling after the first next() are still found."""
    root = tree({"a/first.jpg": b"", "b/early.jpg": b""})
    walker = walk([str(root)])
    assert inspect.isgenerator(walker)
    first = next(walker)
    assert isinstance(first, Folder)
    assert (first.rel, first.names) == ("a", ("first.jpg",))
    # A huge folder would be listed only now; prove it was not listed yet.
    for i in range(3):
        (root / "b" / f"late{i}.jpg").write_bytes(b"")
    rest = folders(walker)
    assert [(f.rel, f.names) for f in rest] == [
        ("b", ("early.jpg", "late0.jpg", "late1.jpg", "late2.jpg")),
    ]


def test_walk_does_nothing_until_asked(tmp_path: Path) -> None:
    walker = walk([str(tmp_path / "created-later")])
    (tmp_path / "created-later").mkdir()
    (tmp_path / "created-later" / "a.jpg").write_bytes(b"")
    assert found(walker) == ["a.jpg"]


def test_unreadable_folder_noted(tree: Callable[..., Path]) -> None:
    root = tree({"a.jpg": b"", "locked/b.jpg": b""})
    (root / "locked").chmod(0)
    code = (
        "import json, sys\n"
        "from imgpar.walk import Folder, walk\n"
        "items = list(walk([sys.argv[1]]))\n"
        "print(json.dumps([[n for f in items if isinstance(f, Folder) for n in f.names],\n"
        "                  [i.path for i in items if not isinstance(i, Folder)]]))\n"
    )
    try:
        done = subprocess.run(
            [*unprivileged(), sys.executable, "-c", code, str(root)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        (root / "locked").chmod(0o755)
    assert json.loads(done.stdout) == [["a.jpg"], [str(root / "locked")]]


def test_count_images(tree: Callable[..., Path]) -> None:
    root = tree({"a.jpg": b"", "b.txt": b"", "s/c.png": b"", "out/d.jpg": b"", ".e.jpg": b""})
    assert count_images([str(root)]) == 3
    assert count_images([str(root)], exclude=str(root / "out")) == 2


def test_another_runs_output_folder_is_never_walked(tmp_path: Path) -> None:
    """Two runs with their --out inside one SOURCE tree (as presets may be):
    each run's outputs are never the other's sources, however often both run."""
    from PIL import Image

    img = tmp_path / "site" / "img"
    img.mkdir(parents=True)
    Image.new("RGB", (800, 600), (250, 0, 0)).save(img / "a.jpg")
    imgpar = [sys.executable, "-m", "imgpar", "convert", str(img)]
    for _ in range(3):
        for args in (["--to", "webp", "--out", str(img / "web")],
                     ["--to", "jpeg", "--width", "200", "--out", str(img / "thumbs")]):  # fmt: skip
            done = subprocess.run([*imgpar, *args], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
    made = sorted(str(p.relative_to(img)) for p in img.rglob("*") if p.is_file())
    assert [p for p in made if not os.path.basename(p).startswith(".")] == [
        "a.jpg", "thumbs/a.jpg", "web/a.webp",
    ]  # fmt: skip
    assert f"note: {img / 'web'}: another run's output folder" in done.stderr
    with Image.open(img / "thumbs" / "a.jpg") as im:
        assert im.size == (200, 150)
    # A folder converted in place (on its own, or by an --out that is its
    # SOURCE) keeps its cache beside its sources: walked.
    for name, out in (("sub", []), ("same", ["--out"])):
        folder = tmp_path / "site" / name
        folder.mkdir()
        Image.new("RGB", (80, 60), (0, 250, 0)).save(folder / "b.jpg")
        subprocess.run([sys.executable, "-m", "imgpar", "convert", str(folder), "--to", "webp",
                        *out, *([str(folder)] if out else [])],
                       capture_output=True, check=True)  # fmt: skip
    items = list(walk([str(tmp_path / "site")]))
    names = {f.path: f.names for f in folders(items)}
    for name in ("sub", "same"):
        assert names[str(tmp_path / "site" / name)] == ("b.jpg", "b.webp")
    assert str(img / "web") not in names
    assert [s.path for s in skipped(items)] == [str(img / "thumbs"), str(img / "web")]
    # `info` sees every image, outputs included.
    seen = {f.path: f.names for f in folders(walk([str(tmp_path / "site")], outputs=True))}
    assert seen[str(tmp_path / "site" / "sub")] == ("b.jpg", "b.webp")
    assert seen[str(img / "web")] == ("a.webp",)



@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="no /proc here")
@pytest.mark.parametrize("in_place", [False, True])
def test_a_link_to_the_kernels_folders_is_not_walked(
    tree: Callable[..., Path], in_place: bool
) -> None:
    # /proc's folders lead to every process's root and working folder: a
    # link to it in a tree of photos converted the whole machine's images.
    root = tree({"a.jpg": b""})
    (root / "proc").symlink_to("/proc")
    (root / "sys").symlink_to("/sys")
    items = list(walk([str(root)], in_place=in_place))
    assert found(items) == ["a.jpg"]
    assert [(n.path, n.reason, n.failed) for n in skipped(items)] == [
        (str(root / "proc"), "the kernel's own folders (/proc, /sys): not walked", False),
        (str(root / "sys"), "the kernel's own folders (/proc, /sys): not walked", False),
    ]
    assert count_images([str(root)]) == 1


@pytest.mark.parametrize("in_place", [False, True])
def test_a_link_to_a_folder_that_holds_the_source_is_a_loop(
    tree: Callable[..., Path], in_place: bool
) -> None:
    # `..` twice, or `/`: the walk went through the SOURCE's siblings (in
    # place, writing beside them) and the whole disk before it met itself.
    root = tree({"photos/a.jpg": b"", "other/b.jpg": b""})
    photos = root / "photos"
    (photos / "up").symlink_to("../..")
    (photos / "root").symlink_to("/")
    items = list(walk([str(photos)], in_place=in_place))
    assert found(items) == ["a.jpg"]
    why = "symlink loop: a folder that holds the SOURCE, not followed"
    assert [(n.path, n.reason) for n in skipped(items)] == [
        (str(photos / "root"), why), (str(photos / "up"), why)
    ]  # fmt: skip


def _walked_after(mount: str, sources: list[Path], *, in_place: bool = False) -> list[str]:
    """What a walk of `sources` finds, one line an item, in a mount
    namespace of its own where the shell command `mount` ran first (as a
    root of that namespace); skips the test where none can be made."""
    code = (
        "import sys; from imgpar.walk import walk\n"
        f"for item in walk(sys.argv[1:], in_place={in_place}):\n"
        "    print(getattr(item, 'reason', None) or item.names)\n"
    )
    # -p -f: a PID namespace too, which mounting /proc asks for.
    wrap = ["unshare", "-m", "-p", "-f", "--map-root-user", "sh", "-c",
            f'{mount} && exec "$@"', "sh"]  # fmt: skip
    try:
        if subprocess.run([*wrap, "true"], capture_output=True).returncode != 0:
            pytest.skip(f"cannot {mount} here")
    except FileNotFoundError:
        pytest.skip("no unshare here")
    done = subprocess.run([*wrap, sys.executable, "-c", code, *map(str, sources)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_another_mount_of_proc_is_not_walked_either(tmp_path: Path) -> None:
    # /proc mounted again inside a tree has a device of its own: told by
    # /proc's alone, its folders led through every process's working folder.
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "p2").mkdir()
    assert _walked_after(f'mount -t proc proc "{tmp_path / "p2"}"', [tmp_path]) == [
        "('a.jpg',)", "the kernel's own folders (/proc, /sys): not walked"
    ]  # fmt: skip


def test_a_source_that_holds_another_named_otherwise_is_still_walked(tmp_path: Path) -> None:
    # A folder above a SOURCE, named through a bind mount (or in another
    # case on macOS): it was taken for a link to a folder that holds the
    # SOURCE, and skipped whole.
    photos = tmp_path / "data" / "photos"
    for year in ("2023", "2024"):
        (photos / year).mkdir(parents=True)
        (photos / year / f"{year}.jpg").write_bytes(b"")
    bind = tmp_path / "mnt"  # walked after the SOURCE inside it: SOURCES go by path
    bind.mkdir()
    found = _walked_after(f'mount --bind "{photos}" "{bind}"', [photos / "2023", bind],
                          in_place=True)  # fmt: skip
    assert "('2024.jpg',)" in found, found
