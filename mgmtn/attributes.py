"""The 40 CelebA attributes, the 8 MGMTN attribute groups, and the mapping between them.

Order matters: it is the column order of `list_attr_celeba.txt`, of the model's logits and of every
attributes table. Groups follow the design card (one spatial region per group).
"""

from __future__ import annotations

import re

ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby",
    "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male",
    "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose",
    "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair",
    "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip

# Group name -> attributes, in the order the masks are stacked (mask channel i is GROUPS[i]).
GROUP_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "eyes": ("Arched_Eyebrows", "Bags_Under_Eyes", "Bushy_Eyebrows", "Eyeglasses", "Narrow_Eyes"),
    "nose": ("Big_Nose", "Pointy_Nose"),
    "mouth": ("Big_Lips", "Mouth_Slightly_Open", "Smiling", "Wearing_Lipstick", "Mustache"),
    "cheeks": ("High_Cheekbones", "Rosy_Cheeks", "Sideburns"),
    "lower_face": ("5_o_Clock_Shadow", "Double_Chin", "Goatee", "No_Beard", "Chubby"),
    "ears": ("Wearing_Earrings",),
    "hair": (
        "Bald",
        "Bangs",
        "Black_Hair",
        "Blond_Hair",
        "Brown_Hair",
        "Gray_Hair",
        "Receding_Hairline",
        "Straight_Hair",
        "Wavy_Hair",
        "Wearing_Hat",
    ),  # fmt: skip
    "whole": (
        "Attractive",
        "Blurry",
        "Heavy_Makeup",
        "Male",
        "Oval_Face",
        "Pale_Skin",
        "Young",
        "Wearing_Necklace",
        "Wearing_Necktie",
    ),  # fmt: skip
}

GROUPS: tuple[str, ...] = tuple(GROUP_ATTRIBUTES)

ATTRIBUTE_GROUP: dict[str, str] = {a: g for g, attrs in GROUP_ATTRIBUTES.items() for a in attrs}


def group_indices() -> dict[str, list[int]]:
    """Group name -> positions of its attributes in ATTRIBUTES (the logit order)."""
    pos = {a: i for i, a in enumerate(ATTRIBUTES)}
    return {g: [pos[a] for a in attrs] for g, attrs in GROUP_ATTRIBUTES.items()}


def snake_case(name: str) -> str:
    """CelebA name -> table column name, e.g. '5_o_Clock_Shadow' -> 'five_o_clock_shadow'.

    Column names must not start with a digit (Polars/SQL friendliness), hence the spelled-out five.
    """
    name = re.sub(r"^5_", "five_", name)
    return name.lower()


ATTRIBUTE_COLUMNS: tuple[str, ...] = tuple(snake_case(a) for a in ATTRIBUTES)

assert sorted(ATTRIBUTE_GROUP) == sorted(ATTRIBUTES), "every attribute belongs to exactly one group"
