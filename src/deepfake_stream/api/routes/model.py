"""GET /v1/model: the model card (model_card.py) of the loaded detector, or of the newest
worker's."""

from __future__ import annotations

from fastapi import APIRouter

from ...errors import NotReadyError
from ...model_card import ModelCard, build_model_card
from ..deps import CallerDep, StateDep
from ..errors import ErrorBody

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", responses={503: {"model": ErrorBody}})
@router.head("/model", include_in_schema=False)  # is a model loaded (200) or not (503)
def model_card(_caller: CallerDep, state: StateDep) -> ModelCard:
    """Which weights are loaded, how they were trained and how they are used. With the Redis
    broker: the card the newest worker published when it started."""
    if state.analyzes_in_process:
        return build_model_card(state.ready_analyzer())
    store, _, _ = state.jobs()
    card = store.latest_model_card()
    if card is None:
        raise NotReadyError("no worker has started yet: the model card comes from the workers")
    return ModelCard.model_validate(card)
