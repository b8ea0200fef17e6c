"""The guided onboarding: where a CPO stands in the sequence, and a button to its next step.

register -> test the connection -> import -> fix -> push -> statuses live, as
``oioi_onboard.store.onboarding`` works it out. The overview lists every CPO's
next step; each step page shows the sequence for the CPO it works on, its own
steps in bold, with a button to the next step when that is on another page.
A button opens the page with the CPO chosen there (``choose_cpo`` reads
``selected_cpo``; the live map starts filtered to it): its callback chooses,
and the run the click starts switches page (``follow_chosen_step``).
"""

from __future__ import annotations

import streamlit as st

from common import db_session, plain
from oioi_onboard.errors import OnboardError
from oioi_onboard.store import Actor, Role, onboarding

PAGES = {
    "register": "views/cpos.py",
    "connection": "views/cpos.py",
    "import": "views/import_stations.py",
    "fix": "views/import_stations.py",
    "push": "views/push.py",
    "statuses": "views/live_map.py",
}
ACTIONS = {  # what the button says: the thing to do next
    "register": "Register the CPO",
    "connection": "Test the connection",
    "import": "Import stations",
    "fix": "Fix the errors",
    "push": "Push the stations",
    "statuses": "Watch statuses arrive",
}
LIVE_FILTER = "live_filter_cpos"  # the live map's remembered CPO filter (see views/live_map.py)


_GO = "steps_go"  # the page a step button chose, switched to on the run its click starts


def choose_step(cpo_id: int, step: str) -> None:
    """A step button's callback: choose the CPO for the page of ``step`` (before any widget is drawn, so
    even the CPOs page's own picker, keyed ``selected_cpo``, takes it), and ask for that page."""
    st.session_state["selected_cpo"] = cpo_id
    if step == "statuses":
        st.session_state[LIVE_FILTER] = [cpo_id]
        st.session_state.pop("live_cpos", None)  # the widget takes the filter above on its next run
    st.session_state[_GO] = PAGES[step]


def follow_chosen_step() -> None:
    """Open the page a step button chose, if one did (call it before drawing anything that depends on it)."""
    page = st.session_state.pop(_GO, None)
    if page:
        st.switch_page(page)


def step_button(where, label: str, *, cpo_id: int, step: str, key: str, **options) -> None:  # noqa: ANN001, ANN003
    """A button that opens the page of ``step`` with this CPO chosen there."""
    where.button(label, key=key, on_click=choose_step, args=(cpo_id, step), **options)


def steps_markdown(progress: onboarding.OnboardingProgress, here: tuple[str, ...] = ()) -> str:
    """One line: each step with a mark (done, next, to do); the steps of this page in bold."""
    upcoming = progress.next
    parts = []
    for step in progress.steps:
        if step.done:
            text = f":green[:material/check_circle: {step.title}]"
        elif upcoming is not None and step.key == upcoming.key:
            text = f":orange[:material/arrow_circle_right: {step.title}]"
        else:
            text = f":gray[:material/radio_button_unchecked: {step.title}]"
        parts.append(f"**{text}**" if step.key in here else text)
    return " → ".join(parts)


def next_line(step: onboarding.Step | None) -> str:
    if step is None:
        return "Onboarding complete: statuses reach the platform."
    return f"Next: {step.title.lower()}. {plain(step.detail[0].upper() + step.detail[1:])}."


def show_steps(actor: Actor, cpo_id: int, *, here: tuple[str, ...], key: str) -> onboarding.OnboardingProgress | None:
    """The sequence for this CPO at the top of a step page; a button to the next step if it lies elsewhere."""
    follow_chosen_step()
    try:
        with db_session() as session:
            progress = onboarding.cpo_onboarding(session, actor=actor, cpo_id=cpo_id)
    except OnboardError:
        return None  # a CPO this person may not see: the page itself says so
    with st.container(border=True, key=f"steps_{key}"):
        st.markdown(f"**Onboarding of {plain(progress.cpo)}** ({progress.done} of {len(progress.steps)} steps)  \n"
                    + steps_markdown(progress, here))
        upcoming = progress.next
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.caption(next_line(upcoming))
        if upcoming is not None and upcoming.key not in here and actor.role != Role.VIEWER:
            # Primary: it shows only when the next step lies on another page, so it is what to do now.
            step_button(right, f"{ACTIONS[upcoming.key]} →", cpo_id=cpo_id, step=upcoming.key, type="primary",
                        key=f"steps_next_{key}_{cpo_id}", help=f"Opens the page for this step with {progress.cpo} "
                                                             "chosen")
    return progress
