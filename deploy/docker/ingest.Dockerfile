# syntax=docker/dockerfile:1
# Streaming.Ingest, CPU image (TorchSharp-cpu). Build from the repository root:
#   docker build -f deploy/docker/ingest.Dockerfile -t streaming/ingest .
# Both stages are Ubuntu 24.04 (noble): its libstdc++ has GLIBCXX_3.4.32, so TorchSharp's native library
# loads as shipped and the Debian 12 patch stays off (PatchLibTorchSharpGlibcxx=false).

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
# Restore from the project files alone: the package layer survives source edits.
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props BannedSymbols.txt .editorconfig ./
COPY build/ build/
COPY src/Shared/Streaming.Shared/Streaming.Shared.csproj src/Shared/Streaming.Shared/
COPY src/Ingest/Streaming.Ingest.csproj src/Ingest/
RUN dotnet restore src/Ingest/Streaming.Ingest.csproj -r linux-x64 -p:TorchDevice=cpu
COPY src/Shared/Streaming.Shared/ src/Shared/Streaming.Shared/
COPY src/Ingest/ src/Ingest/
RUN dotnet publish src/Ingest/Streaming.Ingest.csproj -c Release -r linux-x64 --self-contained false --no-restore \
      -p:TorchDevice=cpu -p:PatchLibTorchSharpGlibcxx=false -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble
WORKDIR /app
COPY --from=build /app ./
ENV ASPNETCORE_HTTP_PORTS=8080
EXPOSE 8080
# The image's non-root user "app" (UID 1654); the pods' runAsUser says the same.
USER 1654
ENTRYPOINT ["dotnet", "Streaming.Ingest.dll"]
