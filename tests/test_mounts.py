"""Where the mount table puts folders, and when its word is taken."""

from __future__ import annotations

from pathlib import Path

from imgpar.mounts import Mount, Mounts


def test_two_shares_of_one_server_do_not_hold_each_other(tmp_path: Path) -> None:
    # NFS writes "/" for every mount's root, and two shares of one server's
    # file system have one device: /mnt/web seemed to be inside /mnt/photo,
    # and `convert /mnt/photo --out /mnt/web/img` was refused.
    photo, web = tmp_path / "photo", tmp_path / "web"
    (photo / "2024").mkdir(parents=True)
    (web / "img").mkdir(parents=True)
    (web / "img" / "logo.png").write_bytes(b"")
    mounts = Mounts([Mount("0:99", "/", str(photo), "nfs4", ("rw",)),
                     Mount("0:99", "/", str(web), "nfs4", ("rw",))])  # fmt: skip
    assert mounts.place(str(web / "img")) == ("0:99", "/img")
    assert not mounts.within(str(web / "img"), str(photo))
    assert not mounts.within(str(photo / "2024"), str(web))
    assert mounts.mounted_below(str(web / "img" / "logo.png"), str(photo)) is None
    # By path, inside is inside, whatever the table says.
    assert mounts.within(str(photo / "2024"), str(photo))


def test_a_folder_shown_at_a_second_path_is_inside_where_it_really_is(tmp_path: Path) -> None:
    # As a bind mount shows it (here a link stands in for the second path,
    # which needs no privileges: the table is the test's, and the check of
    # its word by identity sees one folder).
    src, second = tmp_path / "src", tmp_path / "second"
    (src / "2024").mkdir(parents=True)
    second.symlink_to(src / "2024")
    mounts = Mounts([Mount("8:1", "/", "/", "ext4", ("rw",)),
                     Mount("8:1", str(src / "2024"), str(second), "ext4", ("rw",))])  # fmt: skip
    assert mounts.mounted_below(str(second), str(src)) == "2024"
    assert mounts.within(str(second), str(src))
    assert not mounts.within(str(src), str(second))
    # A table that names no such folder there is not taken at its word.
    (src / "2024").rmdir()
    (src / "2024").mkdir()
    second.unlink()
    second.mkdir()
    assert not mounts.within(str(second), str(src))
