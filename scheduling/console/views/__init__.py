"""The agent console: one page, htmx fragments rendered from the same template.

Views stay thin: they validate with a form, call one selector or service, and render
the panels that changed (the first replaces the request's target, the rest swap in
out-of-band). Without htmx every action redirects back to the page, which renders all
panels from the session state, so the console also works as plain HTML forms.
Errors people read come from the services as constant messages and are shown in the
page, never as a 500.
"""

from __future__ import annotations
