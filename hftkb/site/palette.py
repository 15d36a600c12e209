"""The site's one palette for stages and kinds: the timeline, the graph (its nodes, the paper pages' neighbourhood
pictures and the legends) and the results scatter all take their colours from here.

Colours are Okabe & Ito's colour-blind-safe set ("Color Universal Design", 2008), told apart by people with
protanopia, deuteranopia and tritanopia; each is a mid-luminance hue that stays visible on Material's light and
dark (slate) backgrounds. Every chart also draws a thin outline in the page's background colour and labels its
legend in words, so no reading depends on colour alone.

A defense is coloured by its stage (where it acts is what a reader compares); every other kind by its kind.
"""

from __future__ import annotations

STAGE_COLOURS = {
    "pre_training": "#56B4E9",      # sky blue
    "alignment": "#0072B2",         # blue
    "fine_tuning": "#E69F00",       # orange
    "post_fine_tuning": "#009E73",  # bluish green
}
KIND_COLOURS = {
    "attack": "#D55E00",     # vermillion
    "defense": "#6699CC",    # medium blue (Paul Tol), also outside the eight: the kind chart; in the graph a defense takes its stage's colour
    "analysis": "#CC79A7",   # reddish purple
    "benchmark": "#F0E442",  # yellow
    "survey": "#999999",     # grey
    "position": "#7F3C8D",   # plum, outside Okabe-Ito's eight (chosen to stay apart from the others for dichromats)
}
OTHER = "#BBBBBB"  # a key not listed here (a new vocabulary term): light grey until it is given a colour


def stage_colour(stage: str | None) -> str:
    return STAGE_COLOURS.get(stage or "", OTHER)


def kind_colour(kind: str | None) -> str:
    return KIND_COLOURS.get(kind or "", OTHER)


def paper_colour(kind: str | None, stage: str | None) -> str:
    """The colour of a paper's node: its stage's for a defense with a stage, else its kind's."""
    if kind == "defense" and stage in STAGE_COLOURS:
        return STAGE_COLOURS[stage]
    return kind_colour(kind)


def legend(site, with_kinds: bool = True) -> list[tuple[str, str]]:
    """[(colour, label)] for the node colours of paper_colour: stages first (defenses), then the other kinds."""
    taxonomy = site.corpus.taxonomy
    items = [(colour, f"Defense: {taxonomy['stages'][key].name}" if key in taxonomy.get("stages", {}) else key)
             for key, colour in STAGE_COLOURS.items()]
    if with_kinds:
        items += [(colour, taxonomy["kinds"][key].name if key in taxonomy.get("kinds", {}) else key)
                  for key, colour in KIND_COLOURS.items() if key in taxonomy.get("kinds", {})]
    return items
