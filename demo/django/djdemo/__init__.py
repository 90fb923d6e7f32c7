# djdemo -- the Django project of the uWSGI copy-on-write demo (demo/django/run).
