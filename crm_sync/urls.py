from rest_framework.routers import SimpleRouter

from crm_sync import views

router = SimpleRouter()
router.register("sync/rest-calls", views.RestCallLogViewSet, basename="rest-call")

urlpatterns = router.urls
