# urls.py -- the demo's routes: the LargeObject page, /stats (cowgc statistics) and /collect.
from django.urls import path

from . import views

urlpatterns = [
    path("", views.page),
    path("stats", views.stats),
    path("collect", views.collect),
]
