# syntax=docker/dockerfile:1
# Streaming.MetaTrainer, CPU image (TorchSharp-cpu). Build from the repository root:
#   docker build -f deploy/docker/metatrainer.Dockerfile -t streaming/metatrainer .
# Both stages are Ubuntu 24.04 (noble): its libstdc++ has GLIBCXX_3.4.32, so TorchSharp's native library
# loads as shipped and the Debian 12 patch stays off (PatchLibTorchSharpGlibcxx=false).

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
# Restore from the project files alone: the package layer survives source edits.
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props BannedSymbols.txt .editorconfig ./
COPY build/ build/
COPY src/Shared/Streaming.Shared/Streaming.Shared.csproj src/Shared/Streaming.Shared/
COPY src/Shared/Streaming.Learning/Streaming.Learning.csproj src/Shared/Streaming.Learning/
COPY src/Shared/Streaming.Text/Streaming.Text.csproj src/Shared/Streaming.Text/
COPY src/MetaTrainer/Streaming.MetaTrainer.csproj src/MetaTrainer/
RUN dotnet restore src/MetaTrainer/Streaming.MetaTrainer.csproj -r linux-x64 -p:TorchDevice=cpu
COPY src/Shared/Streaming.Shared/ src/Shared/Streaming.Shared/
COPY src/Shared/Streaming.Learning/ src/Shared/Streaming.Learning/
COPY src/Shared/Streaming.Text/ src/Shared/Streaming.Text/
COPY src/MetaTrainer/ src/MetaTrainer/
RUN dotnet publish src/MetaTrainer/Streaming.MetaTrainer.csproj -c Release -r linux-x64 --self-contained false --no-restore \
      -p:TorchDevice=cpu -p:PatchLibTorchSharpGlibcxx=false -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble
WORKDIR /app
COPY --from=build /app ./
ENV ASPNETCORE_HTTP_PORTS=8080
EXPOSE 8080
# The image's non-root user "app" (UID 1654); the pods' runAsUser says the same.
USER 1654
ENTRYPOINT ["dotnet", "Streaming.MetaTrainer.dll"]
