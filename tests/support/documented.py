"""The two step examples of metrics-api-doc.txt, as step programs.

Only the import line differs from the documentation (and each ends by calling
its step function).
"""

SCALAR_EXAMPLE = """
from stepmetrics.sdk import CraftAiSdk

def metricsStep () :

    sdk = CraftAiSdk()

    # Some code

    sdk.record_metric_value("accuracy", 0.1409)
    sdk.record_metric_value("loss", 1/3)

    print ("Metrics are sent")

metricsStep()
"""

LIST_EXAMPLE = """
from stepmetrics.sdk import CraftAiSdk
import math

def metricsStep():
    sdk = CraftAiSdk()

    # Some code

    # Just one list upload
    sdk.record_list_metric_values("accuracy_list", [0.89, 0.92, 0.95])

    # Tow list upload, the lists will be concatenated in loss_list list metrics
    sdk.record_list_metric_values("loss_list", [1.4, 1.2])
    sdk.record_list_metric_values("loss_list", [1.1, 1.0])

    # Upload multiple values that will be concatenated into 1 metrics list *logx* with all values
    for i in range (1, 50) :

        sdk.record_list_metric_values("logx", math.log(i))

    print("List metrics are sent")

metricsStep()
"""
