from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.workspace_settings, name="workspace"),
    path("teams/new", views.create_team, name="create_team"),
    path("switch", views.switch, name="switch"),
    path("invite", views.invite, name="invite"),
    path("invitations/withdraw", views.cancel_invitation, name="cancel_invitation"),
    path("join/<str:token>", views.invitation, name="invitation"),
    path("members/remove", views.remove_member, name="remove_member"),
    path("members/transfer", views.transfer, name="transfer"),
    path("leave", views.leave, name="leave"),
    path("two-factor", views.require_mfa, name="require_mfa"),
    path("tokens/new", views.create_token, name="create_token"),
    path("tokens/<str:token_id>/revoke", views.revoke_token, name="revoke_token"),
]
