def workspace(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current_workspace": None}
    return {"current_workspace": request.workspace}
