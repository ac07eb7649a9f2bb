"""Extension objects, created unbound here and bound to the app in ``create_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from biobank.db import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# No default limits: a receiving bench's scanner, rack reader and label printer share one
# address and make hundreds of requests a minute. Only secret-guessing endpoints are limited.
limiter = Limiter(key_func=get_remote_address, default_limits=[])


class ProblemApi(Api):
    """Every error is documented per route as application/problem+json (biobank.api.common);
    smorest's generic default error response would describe a body we never send."""

    DEFAULT_ERROR_RESPONSE_NAME = None


api = ProblemApi()
