"""python -m tektii_core.scenario_config > docs/scenario-config.schema.json"""

import json

from tektii_core.scenario_config.schema import config_json_schema

print(json.dumps(config_json_schema(), indent=2))
