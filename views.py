"""The page."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from lnbits.core.models import User
from lnbits.decorators import check_user_exists
from lnbits.helpers import template_renderer

feepilot_ext_generic = APIRouter()


def feepilot_renderer():
    return template_renderer(["feepilot/templates"])


@feepilot_ext_generic.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request, user: User = Depends(check_user_exists)):
    # Non-admins get the page too: it tells them it is for admins only.
    return feepilot_renderer().TemplateResponse(
        "feepilot/index.html", {"request": request, "user": user.json()}
    )
