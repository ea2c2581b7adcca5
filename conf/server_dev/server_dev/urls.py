from django.contrib import admin
from django.urls import path

from hello import views

urlpatterns = [
    path('', views.hello, name='hello'),
    path('info/', views.info, name='info'),
    path('upload/', views.upload, name='upload'),
    path('download/', views.download, name='download'),
    path('admin/', admin.site.urls),
]
