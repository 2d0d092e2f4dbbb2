from __future__ import annotations

from django import template
from django.template.loader import select_template

from syncjobs.models import JobRun

register = template.Library()


@register.simple_tag
def job_result_template(run: JobRun) -> str:
    """The kind's own result template (``syncjobs/results/<kind>.html``) or the default."""
    names = [f"syncjobs/results/{run.kind}.html", "syncjobs/results/default.html"]
    return str(select_template(names).template.name)
