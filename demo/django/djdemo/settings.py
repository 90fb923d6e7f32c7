"""Settings of the demo project: no database, no migrations, no sessions -- one app module."""
SECRET_KEY = "cowgc-demo-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djdemo.urls"
INSTALLED_APPS = []
DATABASES = {}
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
TEMPLATES = []
USE_TZ = True
USE_I18N = False
LOGGING_CONFIG = None
