// The learning library's layers, visible to each other (the folders are the architecture; see docs/ARCHITECTURE.md).
global using Streaming.Learning.Inputs;
global using Streaming.Learning.Methods;
global using Streaming.Learning.Models;
global using Streaming.Learning.Networks;
global using Streaming.Shared.Models;
