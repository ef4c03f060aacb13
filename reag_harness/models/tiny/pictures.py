"""The demo's entity pictures: a shape in the entity's colour and its title (demo task, tiny ReflectiVA calibration)."""

from __future__ import annotations

from typing import Any

COLOURS = {"red": (200, 40, 40), "grey": (128, 128, 128), "white": (235, 235, 235), "blue": (40, 80, 200),
           "orange": (240, 140, 30), "brown": (120, 80, 40), "black": (25, 25, 25), "green": (40, 150, 60),
           "cyan": (40, 190, 200), "yellow": (230, 210, 40), "amber": (255, 190, 0), "silver": (190, 190, 200),
           "purple": (130, 50, 160)}


def draw_picture(title: str, colour: str = "grey", shape: str = "square") -> Any:
    """A 224x224 RGB picture: ``shape`` in ``colour`` (an unknown colour is grey) and ``title`` below it."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (224, 224), (250, 248, 240))
    draw = ImageDraw.Draw(img)
    fill = COLOURS.get(colour, (128, 128, 128))
    if shape in ("circle", "ellipse", "dome"):
        draw.ellipse((40, 50, 184, 170), fill=fill)
    elif shape in ("triangle", "star", "figure"):
        draw.polygon([(112, 30), (190, 180), (34, 180)], fill=fill)
    elif shape in ("tower",):
        draw.rectangle((92, 20, 132, 190), fill=fill)
    else:
        draw.rectangle((40, 60, 184, 170), fill=fill)
    draw.text((10, 200), title, fill=(0, 0, 0))
    return img
