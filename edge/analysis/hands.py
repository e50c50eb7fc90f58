"""Where the hands are: gesture zone, pockets, behind the back, arms crossed.

Every measure here says "at least one hand..." and follows one rule for hands it cannot see: they
are left out. True when a seen hand (or, for pockets and the back, the arm pattern that hides it)
shows the condition; False when the seen hands do not; None when no hand could be judged. A hand out
of view (below a waist-up framing, behind a desk) is neither in nor out of the gesture zone.
Which postures a measure holds for is the extractor's business (pockets and hands behind the back
are standing measures: a seated presenter's hands rest in the lap, at the hips, without meaning
anything).

Geometry constants are in shoulder widths (sw) unless noted. They are deliberately not config keys:
they describe body proportions, not coaching preferences.
"""

from __future__ import annotations

from edge.analysis.body import L_EL, L_WR, R_EL, R_WR, SIDES, Body, Point, Points, dist

ZONE_TOP = 0.25  # gesture zone starts this far above the shoulder line
ZONE_WAIST = 0.85  # ...and ends at this fraction of the way from the shoulders down to the hips
ZONE_NO_HIPS = 1.4  # torso length assumed (sw) when the hips are not in view
ZONE_HALF_WIDTH = 1.0  # half width of the gesture zone around the body centre line
POCKET_RADIUS = 0.45  # wrist within this of its hip: at the pocket
POCKET_BELOW_HIP = 0.25  # ...not lower than this below the hip (a hanging hand is lower)
POCKET_MEDIAL = 0.15  # ...and not further inside the hip line than this (hands clasped in front)
FOREARM_DROP = 0.3  # the elbow at least this far above the wrist: the forearm points down into it
ELBOW_OUT = 0.2  # elbow this much further out than its shoulder (or wrist): bent outward
ELBOW_DOWN = 0.3  # elbow at least this far below its shoulder: arm hanging or bent down
CROSS_RADIUS = 0.5  # wrist within this of the opposite elbow: arms crossed
CROSS_ELBOW_TOP = 0.2  # crossed arms: elbows between this far below the shoulders...
CROSS_ELBOW_BOTTOM = 1.3  # ...and this far
FOLD_MEDIAL = 0.3  # folded arms, wrists tucked away: each wrist this much closer to the centre line...
FOLD_LEVEL = 0.5  # ...than its elbow and within this height of it (forearms across the body)


def _zone_bottom(body: Body) -> float:
    if body.hip_mid is not None:
        return body.sh_mid[1] + ZONE_WAIST * (body.hip_mid[1] - body.sh_mid[1])
    return body.sh_mid[1] + ZONE_WAIST * ZONE_NO_HIPS * body.scale


# How far a keypoint may lie from where MoveNet puts it, by its score: the p90 displacement of a still
# keypoint between two near-identical frames (docs/metrics.md, "Movement that is movement",
# `python -m tools.jitter --variants 80`), in shoulder widths. (lowest score of the band, p90)
POSITION_P90_SW: tuple[tuple[float, float], ...] = (
    (0.6, 0.102), (0.5, 0.155), (0.4, 0.482), (0.3, 0.675), (0.2, 0.864), (0.0, 0.435))


def position_uncertainty(score: float) -> float:
    """The p90 position error of a keypoint with this score, in shoulder widths (`POSITION_P90_SW`)."""
    for lowest, p90 in POSITION_P90_SW:
        if score >= lowest:
            return p90
    return POSITION_P90_SW[-1][1]


def gesture_zone(pts: Points, body: Body | None, wrist_scores: tuple[float, float] = (1.0, 1.0)) -> bool | None:
    """At least one wrist in the gesture zone: from a little above the shoulders (0.25 sw) down to
    the waist (85% of the way to the hips; 1.2 sw below the shoulders without hips), within one
    shoulder width of the body centre line (in front of the torso, as far as a 2D image can tell).

    A wrist closer to an edge of the zone than its keypoint's p90 position error (by its score,
    `position_uncertainty`; wrist order as in `SIDES`, left first) is neither in nor out: a few
    pixels decide it, as the labelling guide's "?" at the zone's edges says. True when a wrist is
    clearly in; False when every seen wrist is clearly out; None otherwise, or without shoulders or
    a seen wrist."""
    if body is None:
        return None
    top = body.sh_mid[1] - ZONE_TOP * body.scale
    bottom = _zone_bottom(body)
    seen = out = 0
    for w, score in zip((pts[L_WR], pts[R_WR]), wrist_scores, strict=True):
        if w is None:
            continue
        seen += 1
        m = position_uncertainty(score)
        ms = m * body.scale
        lateral = body.lateral(w)
        if top + ms <= w[1] <= bottom - ms and lateral <= ZONE_HALF_WIDTH - m:
            return True
        if w[1] < top - ms or w[1] > bottom + ms or lateral > ZONE_HALF_WIDTH + m:
            out += 1
    return False if seen and out == seen else None


def _wrist_in_pocket(sh: Point, el: Point, wr: Point, hip: Point, body: Body) -> bool:
    s = body.scale
    at_pocket = dist(wr, hip) <= POCKET_RADIUS * s and wr[1] <= hip[1] + POCKET_BELOW_HIP * s
    beside = body.lateral(wr) >= body.lateral(hip) - POCKET_MEDIAL
    forearm_down = el[1] <= wr[1] - FOREARM_DROP * s and el[1] >= sh[1] + ELBOW_DOWN * s
    elbow_out = body.lateral(el) >= body.lateral(wr) + ELBOW_OUT
    return at_pocket and beside and forearm_down and elbow_out


def _hidden_hand_in_pocket(sh: Point, el: Point, hip: Point, guess: Point | None, body: Body) -> bool:
    s = body.scale
    low = sh[1] + 2 * ELBOW_DOWN * s <= el[1] <= hip[1] + 0.2 * s
    near_hip = guess is None or guess[1] >= hip[1] - POCKET_RADIUS * s  # a weak wrist well above: folded
    return low and near_hip and body.lateral(el) > body.lateral(sh) + ELBOW_OUT


def pockets(pts: Points, weak: Points, body: Body | None) -> bool | None:
    """At least one hand in a (front) pocket, judged per side.

    A seen wrist is in a pocket when it is at its hip (within 0.45 sw, not more than 0.25 sw below
    it, not more than 0.15 sw inside the hip line) with the forearm of a hand pushed into a pocket:
    the elbow at least 0.3 sw above the wrist (and 0.3 sw below the shoulder) and bent outward (0.2 sw
    further from the centre line than the wrist). A hidden wrist is in a pocket when its elbow is low
    (between 0.6 sw below the shoulder and the hip) and out to the side (0.2 sw further out than its
    shoulder), unless the wrist is weakly located well above the hip (folded arms push the elbows
    out too). None without the hips in view (a framing that cuts at the waist hides the hands
    without meaning anything), or when neither side could be judged (elbow, shoulder, hip or, for the
    hidden-hand pattern, the elbow position not seen).
    """
    if body is None or body.hip_mid is None:
        return None
    judged = 0
    for sh_i, el_i, wr_i, hip_i in SIDES:
        sh, el, wr, hip = pts[sh_i], pts[el_i], pts[wr_i], pts[hip_i]
        if el is None or sh is None or hip is None:
            continue
        if wr is not None:
            if _wrist_in_pocket(sh, el, wr, hip, body):
                return True
            judged += 1
        elif _hidden_hand_in_pocket(sh, el, hip, weak[wr_i], body):
            return True
    return False if judged else None


def behind_back(pts: Points, body: Body | None) -> bool | None:
    """Hands hidden behind the back: neither wrist seen while both elbows are seen, below the
    shoulders (>= 0.3 sw) and close to the torso (not further out than their shoulder + 0.2 sw: arms
    pointing back and down, not out to pockets). False when a wrist is seen; None without both
    elbows or without the hips in view (then missing wrists may only be out of frame)."""
    if body is None or body.hip_mid is None:
        return None
    if pts[L_WR] is not None or pts[R_WR] is not None:
        return False
    for sh_i, el_i, _wr, _hip in SIDES:
        sh, el = pts[sh_i], pts[el_i]
        if sh is None or el is None:
            return None
        if el[1] < sh[1] + ELBOW_DOWN * body.scale or body.lateral(el) > body.lateral(sh) + ELBOW_OUT:
            return False
    return True


def crossed(pts: Points, weak: Points, body: Body | None) -> bool | None:
    """Arms crossed in front of the chest: both elbows at chest height (0.2..1.3 sw below the
    shoulders), and either every seen wrist within 0.5 sw of the opposite elbow (the other may be
    tucked away), or, with neither wrist seen, both weakly located 0.3 sw or more inside their own
    elbow and within 0.5 sw of its height (forearms folded across the body, hands tucked under the
    arms). False when the elbows are elsewhere or a seen wrist is away from the opposite elbow; None
    without both elbows, or with neither wrist located even weakly."""
    if body is None:
        return None
    el_l, el_r = pts[L_EL], pts[R_EL]
    if el_l is None or el_r is None:
        return None
    top = body.sh_mid[1] + CROSS_ELBOW_TOP * body.scale
    bottom = body.sh_mid[1] + CROSS_ELBOW_BOTTOM * body.scale
    if not (top <= el_l[1] <= bottom and top <= el_r[1] <= bottom):
        return False
    wr_l, wr_r = pts[L_WR], pts[R_WR]
    if wr_l is None and wr_r is None:
        # Both hands tucked under the arms: the wrists are only weakly located, if at all. Folded
        # when each lies well inside its own elbow, at about the elbow's height.
        for wr, el in ((weak[L_WR], el_l), (weak[R_WR], el_r)):
            if wr is None:
                return None
            inside = body.lateral(el) - body.lateral(wr) >= FOLD_MEDIAL
            level = abs(wr[1] - el[1]) <= FOLD_LEVEL * body.scale
            if not (inside and level):
                return False
        return True
    for wr, other_elbow in ((wr_l, el_r), (wr_r, el_l)):
        if wr is not None and dist(wr, other_elbow) > CROSS_RADIUS * body.scale:
            return False
    return True  # every seen wrist at the opposite elbow; the other may be tucked away
