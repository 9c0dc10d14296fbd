"""Make the images in sample_images/ (deterministic; run from the repository root).

    python scripts/make_samples.py [--out sample_images]

Every image is synthetic but shaped like what users feed imgpar: camera JPEGs
with EXIF (one stored sideways, orientation 6, with GPS), a large photo, a
transparent PNG logo, a 16-bit scan, a palette GIF, an LZW TIFF, a CMYK JPEG
from a print workflow, a WebP and a BMP.
"""

from __future__ import annotations

import argparse
import os
import random

from PIL import Image, ImageDraw, ImageFilter


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A smooth sky-to-ground scene with soft shapes and sensor-like grain."""
    rng = random.Random(seed)
    w, h = size
    sky = Image.linear_gradient("L").resize((w, h))
    r = sky.point(lambda v: 60 + v * 0.6)
    g = sky.point(lambda v: 110 + v * 0.4)
    b = sky.point(lambda v: 230 - v * 0.7)
    im = Image.merge("RGB", (r, g, b))
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x, y = rng.randrange(w), rng.randrange(h // 3, h)
        rad = rng.randrange(w // 20, w // 6)
        colour = (rng.randrange(40, 200), rng.randrange(60, 180), rng.randrange(20, 120))
        draw.ellipse((x - rad, y - rad // 2, x + rad, y + rad // 2), fill=colour)
    draw.rectangle((w // 10, h // 10, w // 10 + w // 12, h // 10 + h // 12), fill=(250, 240, 200))
    im = im.filter(ImageFilter.GaussianBlur(max(1, w // 400)))
    # Seeded grain (Image.effect_noise is not reproducible): uniform bytes
    # squeezed to about the spread of a sigma-40 gaussian around mid-grey.
    grain = Image.frombytes("L", (w, h), rng.randbytes(w * h))
    grain = grain.point(lambda v: 128 + (v - 128) * 0.55).convert("RGB")
    return Image.blend(im, grain, 0.12)


def camera_exif(orientation: int, *, gps: bool) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Imgpar Optics"  # Make
    exif[0x0110] = "IP-1 Mark II"  # Model
    exif[0x0132] = "2026:05:17 09:41:00"  # DateTime
    exif[0x013B] = "Sample Photographer"  # Artist
    exif[0x8298] = "(c) 2026 Sample Photographer, CC0"  # Copyright
    exif[0x0112] = orientation
    if gps:
        info = exif.get_ifd(0x8825)
        info[1] = "N"
        info[2] = (48.0, 51.0, 29.0)
        info[3] = "E"
        info[4] = (2.0, 17.0, 40.0)
    return exif


def make(out: str) -> None:
    os.makedirs(os.path.join(out, "camera"), exist_ok=True)
    os.makedirs(os.path.join(out, "web"), exist_ok=True)

    # Stored landscape, displayed portrait: the camera was held upright.
    portrait = photo((1800, 1200), seed=1)
    portrait.save(
        os.path.join(out, "camera", "IMG_0001.JPG"), quality=88, exif=camera_exif(6, gps=True)
    )
    photo((1800, 1200), seed=2).save(
        os.path.join(out, "camera", "IMG_0002.jpg"), quality=88, exif=camera_exif(1, gps=False)
    )
    photo((4000, 3000), seed=3).save(
        os.path.join(out, "camera", "large_12mp.jpg"), quality=85, exif=camera_exif(1, gps=True)
    )

    logo = Image.new("RGBA", (600, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    draw.rounded_rectangle((40, 40, 560, 360), radius=60, fill=(30, 120, 200, 230))
    draw.ellipse((200, 100, 400, 300), fill=(255, 200, 0, 255))
    logo.save(os.path.join(out, "web", "logo.png"))

    banner = photo((1200, 500), seed=4)
    banner.save(os.path.join(out, "web", "banner.webp"), quality=85)
    banner.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(
        os.path.join(out, "web", "banner_palette.gif")
    )
    photo((480, 360), seed=5).save(os.path.join(out, "web", "screenshot.bmp"))

    scan = Image.linear_gradient("L").resize((800, 600)).convert("I").point(lambda v: v * 257)
    scan.convert("I;16").save(os.path.join(out, "scan_16bit.png"))
    photo((640, 480), seed=6).save(os.path.join(out, "print_lzw.tif"), compression="tiff_lzw")
    photo((1000, 750), seed=7).convert("CMYK").save(os.path.join(out, "print_cmyk.jpg"), quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="sample_images")
    make(parser.parse_args().out)


if __name__ == "__main__":
    main()
