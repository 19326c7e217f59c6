"""Registration, tokens, the signed-in user and follows."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from livestream_site.errors import ApplicationError
from livestream_site.schema import error_responses

from .models import User
from .selectors import artist_follower_count, artist_get
from .services import follow_create, follow_delete, user_register, user_token_get
from .throttles import login_attempt_check, login_failure_record, signup_attempt_check


class RegisterInput(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(max_length=128, write_only=True)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=User.Role.choices, default=User.Role.VIEWER)


class TokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128)


class UserOutput(serializers.ModelSerializer):
    is_staff = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "role", "is_staff"]


class RegisterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()
    token = serializers.CharField()


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()


class RegisterView(APIView):
    serializer_class = RegisterInput
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={201: RegisterOutput, **error_responses(429)})
    def post(self, request):
        signup_attempt_check(address=request.META.get("REMOTE_ADDR", ""))
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_register(**data.validated_data)
        return Response(
            {"id": user.id, "username": user.username, "role": user.role, "token": user_token_get(user=user)},
            status=201,
        )


class TokenView(APIView):
    serializer_class = TokenInput
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: TokenOutput, **error_responses(429)})
    def post(self, request):
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        login_attempt_check(username=username, address=request.META.get("REMOTE_ADDR", ""))
        user = authenticate(request, **data.validated_data)
        if user is None:
            login_failure_record(username=username)
            raise ApplicationError("Wrong username or password.", code="invalid_credentials", status_code=400)
        return Response({"token": user_token_get(user=user)})


class MeView(APIView):
    serializer_class = UserOutput
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(UserOutput(request.user).data)


class FollowOutput(serializers.Serializer):
    artist_id = serializers.IntegerField()
    following = serializers.BooleanField()
    follower_count = serializers.IntegerField()


ARTIST_ID = OpenApiParameter("artist_id", int, OpenApiParameter.PATH, description="The artist's user id.")


class FollowView(APIView):
    """Follow (POST) or unfollow (DELETE) an artist; both are idempotent and answer the state after."""

    serializer_class = FollowOutput
    permission_classes = [IsAuthenticated]

    def _answer(self, artist_id: int, following: bool) -> Response:
        artist = artist_get(artist_id=artist_id)
        count = artist_follower_count(artist=artist)
        return Response(FollowOutput({"artist_id": artist.id, "following": following, "follower_count": count}).data)

    @extend_schema(request=None, responses={200: FollowOutput}, parameters=[ARTIST_ID])
    def post(self, request, artist_id: int):
        follow_create(fan=request.user, artist_id=int(artist_id))
        return self._answer(int(artist_id), True)

    @extend_schema(request=None, responses={200: FollowOutput}, parameters=[ARTIST_ID])
    def delete(self, request, artist_id: int):
        follow_delete(fan=request.user, artist_id=int(artist_id))
        return self._answer(int(artist_id), False)
